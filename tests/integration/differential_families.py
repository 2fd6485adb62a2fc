"""The command sequences of the differential tests, one function per family:
family(prefix, spread) -> steps. `prefix` keeps each family's keys apart; `spread(n, prefix)`
gives n keys on each node (interleaved), for commands that must span the nodes.
"""
import hashlib

from differential import C, Pipelined, Read, ScanAll, shape, stream_ids, ttl, unordered, \
    unordered_pairs


def strings(p, spread):
    t = "{%s}" % p
    return [
        C("SET", p + ":s", "hello"), C("GET", p + ":s"), C("APPEND", p + ":s", " world"),
        C("STRLEN", p + ":s"), C("GETRANGE", p + ":s", 0, 3), C("SETRANGE", p + ":s", 6, "W"),
        C("GET", p + ":s"), C("SUBSTR", p + ":s", 1, 2),
        C("INCR", p + ":n"), C("INCRBY", p + ":n", 10), C("DECR", p + ":n"),
        C("DECRBY", p + ":n", 3), C("INCRBYFLOAT", p + ":f", "1.5"),
        C("INCRBYFLOAT", p + ":f", "2.0e1"), C("GETSET", p + ":n", "100"),
        C("GETDEL", p + ":n"), C("GET", p + ":n"), C("SETNX", p + ":s", "x"),
        C("SETNX", p + ":new", "x"), C("SET", p + ":s", "v2", "XX", "GET"),
        C("SET", p + ":none", "v", "XX"), C("SET", p + ":s", "v3", "NX"),
        C("SETEX", p + ":e", 1000, "v"), C("TTL", p + ":e", norm=ttl),
        C("PSETEX", p + ":pe", 100000, "v"), C("GETEX", p + ":e", "PERSIST"),
        C("TTL", p + ":e"), C("GETEX", p + ":s", "EX", 500), C("TTL", p + ":s", norm=ttl),
        C("SET", p + ":bin", b"\x00\r\n\xff binary\r\n"), C("GET", p + ":bin"),
        C("SET", p + ":big", "x" * 20000), C("GET", p + ":big"), C("STRLEN", p + ":big"),
        C("SET", p + ":empty", ""), C("GET", p + ":empty"),
        C("MSETNX", t + "a", "1", t + "b", "2"), C("MSETNX", t + "a", "1", t + "c", "3"),
        C("SET", t + "x", "ohmytext"), C("SET", t + "y", "mynewtext"),
        C("LCS", t + "x", t + "y"), C("LCS", t + "x", t + "y", "LEN"),
        C("LCS", t + "x", t + "y", "IDX", "MINMATCHLEN", 2, "WITHMATCHLEN"),
        C("INCR", p + ":s"), C("INCRBYFLOAT", p + ":f", "x"),
        C("SET", p + ":s", "v", "EX", "notanumber"), C("SET", p + ":s", "v", "EX", 0),
        C("SET", p + ":s", "v", "NX", "XX"), C("SETRANGE", p + ":s", -1, "x"),
    ]


def bitmaps(p, spread):
    t = "{%s}" % p
    return [
        C("SETBIT", p + ":b", 7, 1), C("SETBIT", p + ":b", 100, 1), C("GETBIT", p + ":b", 7),
        C("GETBIT", p + ":b", 8), C("BITCOUNT", p + ":b"), C("BITCOUNT", p + ":b", 0, 0),
        C("BITCOUNT", p + ":b", 0, 7, "BIT"), C("BITPOS", p + ":b", 1), C("BITPOS", p + ":b", 0),
        C("BITFIELD", p + ":bf", "SET", "u8", 0, 200, "GET", "u8", 0, "INCRBY", "u8", 0, 100,
          "OVERFLOW", "SAT", "INCRBY", "u8", 0, 100),
        C("BITFIELD_RO", p + ":bf", "GET", "u4", 0), C("GET", p + ":b"),
        C("SET", t + "a", "foobar"), C("SET", t + "b", "abcdef"),
        C("BITOP", "AND", t + "d", t + "a", t + "b"), C("BITOP", "XOR", t + "d", t + "a", t + "b"),
        C("BITOP", "NOT", t + "n", t + "a"), C("GET", t + "d"), C("GET", t + "n"),
        C("SETBIT", p + ":b", -1, 1), C("SETBIT", p + ":b", 1, 2),
        C("BITFIELD", p + ":bf", "GET", "u99", 0), C("BITOP", "NOT", t + "n", t + "a", t + "b"),
    ]


def hashes(p, spread):
    big = p + ":bigh"
    fields = []
    for i in range(300):
        fields += ["f%d" % i, "v%d" % i]
    return [
        C("HSET", p + ":h", "a", 1, "b", 2, "c", 3), C("HGET", p + ":h", "a"),
        C("HGET", p + ":h", "zz"), C("HMGET", p + ":h", "a", "zz", "c"), C("HGETALL", p + ":h"),
        C("HKEYS", p + ":h"), C("HVALS", p + ":h"), C("HLEN", p + ":h"),
        C("HEXISTS", p + ":h", "b"), C("HDEL", p + ":h", "b", "zz"),
        C("HINCRBY", p + ":h", "a", 41), C("HINCRBYFLOAT", p + ":h", "c", "0.25"),
        C("HSETNX", p + ":h", "a", 9), C("HSETNX", p + ":h", "d", 9),
        C("HSTRLEN", p + ":h", "c"), C("HMSET", p + ":h", "e", "5"),
        C("HRANDFIELD", p + ":h", -5, "WITHVALUES", norm=shape), C("HRANDFIELD", p + ":h", 2,
                                                                   norm=shape),
        C("HSCAN", p + ":h", 0), C("HSCAN", p + ":h", 0, "MATCH", "a*"),
        C("HGETALL", p + ":missing"), C("HSET", big, *fields), C("HLEN", big),
        C("HGETALL", big, norm=unordered_pairs), C("HKEYS", big, norm=unordered),
        C("OBJECT", "ENCODING", big), C("OBJECT", "ENCODING", p + ":h"),
        ScanAll("HSCAN", "0", key=big),
        C("HINCRBY", p + ":h", "c", 1), C("HINCRBY", p + ":h", "a", "9223372036854775807"),
        C("HSET", p + ":h", "odd"), C("SET", p + ":str", "x"), C("HGET", p + ":str", "a"),
    ]


def lists(p, spread):
    t = "{%s}" % p
    return [
        C("RPUSH", p + ":l", "a", "b", "c", "d", "b"), C("LPUSH", p + ":l", "z"),
        C("LRANGE", p + ":l", 0, -1), C("LLEN", p + ":l"), C("LINDEX", p + ":l", 2),
        C("LINDEX", p + ":l", 99), C("LSET", p + ":l", 0, "zz"),
        C("LINSERT", p + ":l", "BEFORE", "c", "bc"), C("LREM", p + ":l", 1, "b"),
        C("LPOS", p + ":l", "b"), C("LPOS", p + ":l", "b", "RANK", -1, "COUNT", 0),
        C("LTRIM", p + ":l", 0, 4), C("LRANGE", p + ":l", 0, -1), C("LPOP", p + ":l", 2),
        C("RPOP", p + ":l"), C("LPOP", p + ":missing"), C("LPOP", p + ":missing", 2),
        C("RPUSHX", p + ":missing", "x"), C("LPUSHX", p + ":l", "x"),
        C("RPUSH", t + "a", 1, 2, 3, 4), C("LMOVE", t + "a", t + "b", "LEFT", "RIGHT"),
        C("RPOPLPUSH", t + "a", t + "b"), C("LMPOP", 2, t + "x", t + "a", "LEFT", "COUNT", 2),
        C("LMPOP", 2, t + "x", t + "y", "LEFT"), C("LRANGE", t + "b", 0, -1),
        C("LSET", p + ":l", 99, "x"), C("LSET", p + ":missing", 0, "x"),
        C("LMOVE", t + "a", t + "b", "UP", "DOWN"), C("LPOS", p + ":l", "b", "RANK", 0),
        C("SET", p + ":str", "x"), C("LPUSH", p + ":str", "a"), C("LRANGE", p + ":str", 0, 1),
    ]


def sets(p, spread):
    t = "{%s}" % p
    return [
        C("SADD", p + ":s", "a", "b", "c", "a"), C("SCARD", p + ":s"),
        C("SISMEMBER", p + ":s", "a"), C("SISMEMBER", p + ":s", "q"),
        C("SMISMEMBER", p + ":s", "a", "q", "c"), C("SMEMBERS", p + ":s", norm=unordered),
        C("SREM", p + ":s", "b", "q"), C("SRANDMEMBER", p + ":s", 2, norm=shape),
        C("SRANDMEMBER", p + ":s", -5, norm=shape), C("SADD", p + ":one", "only"),
        C("SPOP", p + ":one"), C("SPOP", p + ":one"), C("SPOP", p + ":s", 5, norm=unordered),
        C("SADD", p + ":int", 5, 3, 1, 4), C("SMEMBERS", p + ":int"),
        C("OBJECT", "ENCODING", p + ":int"), C("SSCAN", p + ":int", 0),
        C("SADD", t + "a", "x", "y", "z"), C("SADD", t + "b", "y", "z", "w"),
        C("SINTER", t + "a", t + "b", norm=unordered), C("SUNION", t + "a", t + "b", norm=unordered),
        C("SDIFF", t + "a", t + "b"), C("SINTERSTORE", t + "i", t + "a", t + "b"),
        C("SUNIONSTORE", t + "u", t + "a", t + "b"), C("SDIFFSTORE", t + "d", t + "a", t + "b"),
        C("SINTERCARD", 2, t + "a", t + "b"), C("SINTERCARD", 2, t + "a", t + "b", "LIMIT", 1),
        C("SMOVE", t + "a", t + "b", "x"), C("SMEMBERS", t + "b", norm=unordered),
        C("SINTERCARD", 0, t + "a"), C("SINTERCARD", "x", t + "a"),
        C("SET", p + ":str", "x"), C("SADD", p + ":str", "a"), C("SMEMBERS", p + ":missing"),
    ]


def zsets(p, spread):
    t = "{%s}" % p
    return [
        C("ZADD", p + ":z", 1, "a", 2, "b", 3, "c", "2.5", "bb"), C("ZSCORE", p + ":z", "bb"),
        C("ZSCORE", p + ":z", "nope"), C("ZINCRBY", p + ":z", "0.5", "a"),
        C("ZRANGE", p + ":z", 0, -1, "WITHSCORES"), C("ZRANGE", p + ":z", 0, -1),
        C("ZRANGE", p + ":z", "(1", "+inf", "BYSCORE", "LIMIT", 1, 2),
        C("ZRANGE", p + ":z", "+", "-", "BYLEX", "REV"), C("ZREVRANGE", p + ":z", 0, 1),
        C("ZRANGEBYSCORE", p + ":z", "-inf", 2, "WITHSCORES"),
        C("ZREVRANGEBYSCORE", p + ":z", "+inf", "(2"), C("ZRANGEBYLEX", p + ":z", "-", "[b"),
        C("ZRANK", p + ":z", "c"), C("ZREVRANK", p + ":z", "c"), C("ZCOUNT", p + ":z", 1, 2),
        C("ZLEXCOUNT", p + ":z", "-", "+"), C("ZCARD", p + ":z"),
        C("ZMSCORE", p + ":z", "a", "nope", "c"), C("ZPOPMIN", p + ":z"),
        C("ZPOPMAX", p + ":z", 2), C("ZADD", p + ":z", "XX", "CH", "INCR", 1, "b"),
        C("ZADD", p + ":z", "GT", "CH", 1, "b", 100, "new"), C("ZREM", p + ":z", "new", "x"),
        C("ZREMRANGEBYSCORE", p + ":z", 0, 1), C("ZRANDMEMBER", p + ":z", -3, "WITHSCORES",
                                                   norm=shape),
        C("ZADD", t + "a", 1, "x", 2, "y"), C("ZADD", t + "b", 10, "y", 20, "z"),
        C("ZUNIONSTORE", t + "u", 2, t + "a", t + "b", "WEIGHTS", 2, 1),
        C("ZRANGE", t + "u", 0, -1, "WITHSCORES"),
        C("ZINTER", 2, t + "a", t + "b", "WITHSCORES"), C("ZUNION", 2, t + "a", t + "b"),
        C("ZDIFF", 2, t + "a", t + "b"), C("ZDIFFSTORE", t + "d", 2, t + "a", t + "b"),
        C("ZINTERSTORE", t + "i", 2, t + "a", t + "b", "AGGREGATE", "MAX"),
        C("ZINTERCARD", 2, t + "a", t + "b"), C("ZRANGESTORE", t + "r", t + "u", 0, 1),
        C("ZMPOP", 2, t + "x", t + "u", "MAX", "COUNT", 2),
        C("ZADD", p + ":z", "NX", "XX", 1, "a"), C("ZADD", p + ":z", "notafloat", "a"),
        C("ZADD", p + ":z", "GT", "LT", 1, "a"), C("ZINCRBY", p + ":z", "nan", "a"),
        C("ZUNIONSTORE", t + "u", 0, t + "a"), C("ZRANGE", p + ":z", 0, -1, "BYLEX"),
    ]


def hyperloglog(p, spread):
    t = "{%s}" % p
    return [
        C("PFADD", p + ":hll", "a", "b", "c", "d"), C("PFADD", p + ":hll", "a"),
        C("PFCOUNT", p + ":hll"), C("GET", p + ":hll"),
        C("PFADD", t + "h1", *["m%d" % i for i in range(100)]),
        C("PFADD", t + "h2", *["m%d" % i for i in range(50, 200)]),
        C("PFCOUNT", t + "h1", t + "h2"), C("PFMERGE", t + "m", t + "h1", t + "h2"),
        C("PFCOUNT", t + "m"), C("PFMERGE", t + "only"), C("PFCOUNT", t + "only"),
        C("SET", p + ":str", "not a hll"), C("PFADD", p + ":str", "x"), C("PFCOUNT", p + ":str"),
    ]


def geo(p, spread):
    t = "{%s}" % p
    return [
        C("GEOADD", p + ":g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669",
          "Catania"),
        C("GEODIST", p + ":g", "Palermo", "Catania"), C("GEODIST", p + ":g", "Palermo", "Catania",
                                                        "km"),
        C("GEOHASH", p + ":g", "Palermo", "nowhere"), C("GEOPOS", p + ":g", "Palermo", "nowhere"),
        C("GEOSEARCH", p + ":g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC", "WITHDIST",
          "WITHCOORD", "WITHHASH"),
        C("GEORADIUS", p + ":g", 15, 37, 200, "km", "WITHDIST", "ASC"),
        C("GEORADIUSBYMEMBER", p + ":g", "Palermo", 300, "km", "ASC"),
        C("GEOADD", t + "g", "2.35", "48.85", "Paris", "2.29", "48.86", "Eiffel"),
        C("GEOSEARCHSTORE", t + "dst", t + "g", "FROMMEMBER", "Paris", "BYBOX", 20, 20, "km",
          "STOREDIST"),
        C("ZRANGE", t + "dst", 0, -1, "WITHSCORES"),
        C("GEOADD", p + ":g", "200", "100", "bad"), C("GEODIST", p + ":g", "Palermo", "x", "mi"),
        C("GEOSEARCH", p + ":g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "parsecs"),
    ]


def streams(p, spread):
    t = "{%s}" % p
    x = p + ":x"
    return [
        C("XADD", x, "1-1", "f", "v1"), C("XADD", x, "2-1", "f", "v2", "g", "w"),
        C("XADD", x, "3-0", "f", "v3"), C("XLEN", x), C("XRANGE", x, "-", "+"),
        C("XREVRANGE", x, "+", "-", "COUNT", 2), C("XREAD", "COUNT", 10, "STREAMS", x, 0),
        C("XREAD", "STREAMS", x, "$"), C("XGROUP", "CREATE", x, "g", 0),
        C("XGROUP", "CREATECONSUMER", x, "g", "c1"),
        C("XREADGROUP", "GROUP", "g", "c1", "COUNT", 2, "STREAMS", x, ">"),
        C("XPENDING", x, "g"), C("XACK", x, "g", "1-1"),
        C("XCLAIM", x, "g", "c2", 0, "2-1", "JUSTID"),
        C("XAUTOCLAIM", x, "g", "c3", 0, "0-0", "COUNT", 10, "JUSTID"),
        C("XINFO", "GROUPS", x), C("XINFO", "STREAM", x), C("XDEL", x, "2-1"),
        C("XTRIM", x, "MAXLEN", 1), C("XRANGE", x, "-", "+"), C("XSETID", x, "10-0"),
        C("XADD", x, "5-0", "f", "v"), C("XADD", x, "*", "f", "auto", raw_norm=stream_ids),
        C("XADD", t + "a", "1-0", "k", "a"), C("XADD", t + "b", "1-0", "k", "b"),
        C("XREAD", "STREAMS", t + "a", t + "b", 0, 0),
        C("XADD", x, "MAXLEN", "~", 1000, "*", "f", "g", raw_norm=stream_ids),
        C("XGROUP", "CREATE", x, "g", 0), C("XREAD", "STREAMS", x),
        C("XADD", x, "NOMKSTREAM", "1", "f"), C("XGROUP", "DESTROY", x, "g"),
        C("XINFO", "STREAM", p + ":missing"), C("XREADGROUP", "GROUP", "nog", "c", "STREAMS", x,
                                                ">"),
    ]


def keys_expiry(p, spread):
    t = "{%s}" % p
    return [
        C("SET", p + ":k", "v"), C("TTL", p + ":k"), C("PTTL", p + ":k"),
        C("EXPIRE", p + ":k", 1000), C("TTL", p + ":k", norm=ttl), C("PTTL", p + ":k", norm=ttl),
        C("EXPIRETIME", p + ":k", norm=ttl), C("EXPIRE", p + ":k", 2000, "NX"),
        C("EXPIRE", p + ":k", 2000, "GT"), C("PEXPIRE", p + ":k", 3000000, "XX"),
        C("PERSIST", p + ":k"), C("TTL", p + ":k"), C("PERSIST", p + ":k"),
        C("EXPIREAT", p + ":k", 4102444800), C("PEXPIRETIME", p + ":k"),
        C("PEXPIREAT", p + ":k", 4102444800000), C("TTL", p + ":missing"),
        C("EXPIRE", p + ":missing", 10), C("HSET", p + ":h", "f", "v"),
        C("RPUSH", p + ":l", "x"), C("SADD", p + ":s", "x"), C("ZADD", p + ":z", 1, "x"),
        C("XADD", p + ":x", "1-0", "f", "v"), C("TYPE", p + ":k"), C("TYPE", p + ":h"),
        C("TYPE", p + ":l"), C("TYPE", p + ":s"), C("TYPE", p + ":z"), C("TYPE", p + ":x"),
        C("TYPE", p + ":missing"), C("SET", t + "a", "1"), C("RENAME", t + "a", t + "b"),
        C("GET", t + "b"), C("RENAMENX", t + "b", t + "c"), C("SET", t + "d", "d"),
        C("RENAMENX", t + "c", t + "d"), C("RENAME", t + "zz", t + "yy"),
        C("COPY", t + "c", t + "e"), C("COPY", t + "c", t + "d"),
        C("COPY", t + "c", t + "d", "REPLACE"), C("GET", t + "d"),
        C("OBJECT", "ENCODING", p + ":k"), C("OBJECT", "ENCODING", p + ":missing"),
        C("DUMP", p + ":h"), C("DUMP", p + ":missing"),
        C("RPUSH", t + "sort", 3, 1, 2), C("SORT", t + "sort"),
        C("SORT", t + "sort", "DESC", "LIMIT", 0, 2), C("SORT_RO", t + "sort", "ALPHA"),
        C("SORT", t + "sort", "STORE", t + "sorted"), C("LRANGE", t + "sorted", 0, -1),
        C("EXPIRE", p + ":k", "soon"), C("EXPIRE", p + ":k", 10, "NX", "XX"),
        C("SET", p + ":gone", "v"), C("PEXPIRE", p + ":gone", 1), C("SET", p + ":gone2", "v", "PX", 1),
        C("SORT", p + ":h"),
    ]


def split_multikey(p, spread):
    keys = spread(4, p + ":m")
    pairs = []
    for i, k in enumerate(keys):
        pairs += [k, "v%d" % i]
    return [
        C("MSET", *pairs), C("MGET", *keys), C("MGET", keys[3], p + ":nokey", keys[0], keys[3]),
        C("EXISTS", *keys[:5]), C("EXISTS", keys[0], keys[0], p + ":nokey"),
        C("TOUCH", *keys[:4], p + ":nokey"), C("DEL", keys[0], keys[1], p + ":nokey"),
        C("UNLINK", keys[2], keys[3], keys[2]), C("MGET", *keys[:6]),
        C("HSET", p + ":hash", "f", "v"), C("MGET", keys[4], p + ":hash", keys[5]),
        C("MSET", keys[0], "a", keys[0], "b"), C("GET", keys[0]), C("DEL", *keys),
        C("EXISTS", *keys), C("MGET", p + ":nokey"), C("MSET", keys[0]),
        C("MSET", keys[0], "a", keys[1]), C("MGET"), C("DEL"), C("EXISTS"),
    ]


def transactions(p, spread):
    t = "{%s}" % p
    return [
        Pipelined(("MULTI",), ("SET", t + "p", 1), ("INCR", t + "p"), ("GET", t + "p"),
                  ("EXEC",), ("GET", t + "p")),
        Pipelined(("SET", t + "p", 5), ("MULTI",), ("INCR", t + "p"), ("EXEC",)),
        C("MULTI"), C("SET", t + "a", 1), C("INCR", t + "a"), C("GET", t + "a"),
        C("LPUSH", t + "l", "x"), C("EXEC"),
        C("MULTI"), C("SET", t + "a", 5), C("DISCARD"), C("GET", t + "a"),
        C("EXEC"), C("DISCARD"),
        C("MULTI"), C("MULTI"), C("INCR", t + "a"), C("EXEC"),
        C("MULTI"), C("SET", t + "a"), C("INCR", t + "a"), C("EXEC"), C("GET", t + "a"),
        C("SET", t + "s", "text"),
        C("MULTI"), C("INCR", t + "s"), C("INCR", t + "a"), C("EXEC"),
        C("WATCH", t + "a"), C("MULTI"), C("INCR", t + "a"), C("EXEC"),
        C("WATCH", t + "a"), C("SET", t + "a", 100, other=True), C("MULTI"), C("INCR", t + "a"),
        C("EXEC"), C("GET", t + "a"),
        C("WATCH", t + "a", t + "b"), C("UNWATCH"), C("SET", t + "a", 7, other=True),
        C("MULTI"), C("INCR", t + "a"), C("EXEC"),
        C("MULTI"), C("WATCH", t + "a"), C("DISCARD"), C("UNWATCH"),
        C("MULTI"), C("PING"), C("ECHO", "x"), C("EXEC"),
        C("MULTI"), C("EXEC"),
    ]


def blocking(p, spread):
    """Blocking commands that find data at once, and short timeouts (nil replies)."""
    t = "{%s}" % p
    return [
        C("RPUSH", p + ":l", "a", "b", "c"), C("BLPOP", p + ":l", 1), C("BRPOP", p + ":l", 1),
        C("RPUSH", t + "a", 1, 2, 3), C("BLMOVE", t + "a", t + "b", "LEFT", "LEFT", 1),
        C("BRPOPLPUSH", t + "a", t + "b", 1), C("BLMPOP", 1, 2, t + "x", t + "a", "LEFT"),
        C("BLPOP", t + "x", t + "b", 1), C("BLPOP", p + ":empty", "0.1"),
        C("BRPOP", p + ":empty", "0.1"), C("BLMOVE", t + "x", t + "y", "LEFT", "LEFT", "0.1"),
        C("ZADD", p + ":z", 1, "a", 2, "b"), C("BZPOPMIN", p + ":z", 1),
        C("BZPOPMAX", p + ":z", 1), C("BZPOPMIN", p + ":z", "0.1"),
        C("ZADD", t + "z", 1, "a", 2, "b"), C("BZMPOP", 1, 2, t + "y", t + "z", "MAX"),
        C("XADD", p + ":x", "1-0", "f", "v"),
        C("XREAD", "BLOCK", 100, "STREAMS", p + ":x", 0),
        C("XREAD", "BLOCK", 100, "STREAMS", p + ":x", "$"),
        C("XGROUP", "CREATE", p + ":x", "g", 0),
        C("XREADGROUP", "GROUP", "g", "c", "BLOCK", 100, "STREAMS", p + ":x", ">"),
        C("XREADGROUP", "GROUP", "g", "c", "BLOCK", 100, "STREAMS", p + ":x", ">"),
        C("BLPOP", p + ":l", "notanumber"), C("BLPOP", p + ":l", -1),
        C("SET", p + ":str", "x"), C("BLPOP", p + ":str", 1),
        C("PING"),
    ]


def scripts(p, spread):
    t = "{%s}" % p
    body = "return redis.call('SET', KEYS[1], ARGV[1])"
    loaded = hashlib.sha1(body.encode()).hexdigest()
    unknown = hashlib.sha1(b"never loaded").hexdigest()
    return [
        C("EVAL", "return 1", 0), C("EVAL", "return {1, 'two', {3}, false, true}", 0),
        C("EVAL", "return redis.call('GET', KEYS[1])", 1, p + ":none"),
        C("EVAL", body, 1, p + ":k", "v"),
        C("EVAL", "return redis.call('MGET', KEYS[1], KEYS[2])", 2, t + "a", t + "b"),
        C("EVAL", "return redis.error_reply('MYERR custom')", 0),
        C("EVAL", "return redis.status_reply('FINE')", 0), C("EVAL", "return 3.99", 0),
        C("EVAL", "return {err='bad thing'}", 0), C("EVAL", "syntax error here", 0),
        C("EVAL", "return redis.call('INCR', KEYS[1])", 1, p + ":k"),
        C("SCRIPT", "LOAD", body), C("EVALSHA", loaded, 1,
                                     p + ":k2", "w"),
        C("EVALSHA_RO", loaded, 1, p + ":k2", "w"),
        C("EVAL_RO", "return redis.call('GET', KEYS[1])", 1, p + ":k2"),
        C("EVAL_RO", body, 1, p + ":k2", "x"), C("GET", p + ":k2"),
        C("SCRIPT", "EXISTS", loaded, unknown),
        C("EVALSHA", unknown, 0), C("EVAL", "return 1", -1), C("EVAL", "return 1", 5, "a"),
        C("EVAL", "return 1", "x"),
        C("EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", 1, p + ":hh"),
        C("HSET", p + ":hh", "f", "v"),
        C("EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", 1, p + ":hh"),
        C("EVAL", "return redis.sha1hex('')", 0),
    ]


def functions(p, spread):
    lib = p.replace(":", "_").replace("-", "_")
    code = ("#!lua name=%s\n"
            "redis.register_function('%s_echo', function(keys, args) return args[1] end)\n"
            "redis.register_function{function_name='%s_get', callback=function(keys, args) "
            "return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n"
            "redis.register_function('%s_set', function(keys, args) "
            "return redis.call('SET', keys[1], args[1]) end)\n") % (lib, lib, lib, lib)
    return [
        C("FUNCTION", "LOAD", code), C("FUNCTION", "LOAD", code),
        C("FCALL", lib + "_echo", 0, "hello"), C("FCALL", lib + "_set", 1, p + ":k", "v"),
        C("FCALL_RO", lib + "_get", 1, p + ":k"), C("FCALL_RO", lib + "_set", 1, p + ":k", "w"),
        C("FCALL", "nosuchfunction_" + lib, 0), C("FCALL", lib + "_echo", -1),
        C("FUNCTION", "LOAD", "REPLACE", code), C("FUNCTION", "LOAD", "not lua"),
        C("FUNCTION", "DELETE", lib), C("FUNCTION", "DELETE", lib),
        C("FCALL", lib + "_echo", 0, "gone"),
    ]


def scan(p, spread):
    steps = [C("SET", k, i) for i, k in enumerate(spread(14, p + ":scan"))]
    steps += [C("HSET", k, "f", i) for i, k in enumerate(spread(4, p + ":scan:h"))]
    steps += [C("SADD", "%s:scanset" % p, *["m%d" % i for i in range(30)])]
    steps += [
        ScanAll("MATCH", p + ":scan:*"), ScanAll("MATCH", p + ":scan:*", "COUNT", 7),
        ScanAll("MATCH", p + ":scan:*", "TYPE", "hash"), ScanAll("MATCH", p + ":scan:h*"),
        ScanAll("MATCH", p + ":scan:1*"),
        ScanAll("MATCH", p + ":nothing:*", "COUNT", 1000),
        ScanAll("SSCAN", "0", key=p + ":scanset"),
        C("SCAN", 0, "COUNT", 0), C("SCAN", "notacursor"), C("SCAN", 0, "TYPE"),
        C("SCAN", 0, "BADOPTION", 1),
    ]
    return steps


def pubsub(p, spread):
    """The first connection subscribes, the second publishes; messages are read in order."""
    a, b, c = spread(1, p + ":ch")
    return [
        C("SUBSCRIBE", a), C("PUBLISH", a, "hello", other=True), Read(),
        C("SUBSCRIBE", b, c), Read(), C("PUBSUB", "NUMSUB", a, b, "nobody", other=True),
        C("PUBSUB", "CHANNELS", p + ":ch*", other=True, norm=unordered),
        C("PUBLISH", c, "to c", other=True), Read(), C("PUBLISH", b, "to b", other=True), Read(),
        C("PING"), C("PING", "payload"), C("PSUBSCRIBE", p + ":pat:*"),
        C("PUBSUB", "NUMPAT", other=True), C("PUBLISH", p + ":pat:x", "pm", other=True), Read(),
        C("PUBLISH", p + ":none", "lost", other=True), C("GET", p + ":k"),
        C("UNSUBSCRIBE", a), C("PUBLISH", a, "after", other=True), C("PUBLISH", b, "still",
                                                                      other=True), Read(),
        C("PUNSUBSCRIBE"), Pipelined(("UNSUBSCRIBE",), extra_replies=1, unordered=True),
        C("PUBSUB", "NUMSUB", a, b, other=True),
        C("SET", p + ":k", "normal again"), C("GET", p + ":k"), C("UNSUBSCRIBE"),
        C("SSUBSCRIBE", p + ":shard"), C("SPUBLISH", p + ":shard", "sm", other=True), Read(),
        C("SUNSUBSCRIBE"), C("PUBSUB", "SHARDNUMSUB", p + ":shard", other=True),
    ]


def resp3_types(p, spread):
    """Every RESP3 type a command can return (in RESP2 the same requests give RESP2 replies)."""
    lua = "redis.setresp(3); return redis.call(%s)"
    return [
        C("HSET", p + ":h", "a", 1, "b", 2), C("HGETALL", p + ":h"),
        C("HRANDFIELD", p + ":h", 2, "WITHVALUES", norm=shape),
        C("SADD", p + ":s", 1, 2, 3), C("SMEMBERS", p + ":s"),
        C("ZADD", p + ":z", "1.5", "a", "inf", "b", "-inf", "c"), C("ZSCORE", p + ":z", "a"),
        C("ZSCORE", p + ":z", "b"), C("ZRANGE", p + ":z", 0, -1, "WITHSCORES"),
        C("ZPOPMIN", p + ":z"), C("ZINCRBY", p + ":z", "0.1", "x"),
        C("ZRANDMEMBER", p + ":z", 1, "WITHSCORES", norm=shape), C("GET", p + ":none"),
        C("MGET", p + ":none", p + ":h"), C("LPOP", p + ":none"), C("LPOP", p + ":none", 2),
        C("EVAL", "return {double=3.25}", 0), C("EVAL", "return {map={a=1, b={1, 2}}}", 0),
        C("EVAL", "return {set={x=true}}", 0), C("EVAL", "return true", 0),
        C("EVAL", "return false", 0), C("EVAL", "return nil", 0),
        C("EVAL", "return {big_number='123456789012345678901234567890'}", 0),
        C("EVAL", lua % "'HGETALL', KEYS[1]", 1, p + ":h"),
        C("EVAL", lua % "'SMEMBERS', KEYS[1]", 1, p + ":s"),
        C("EVAL", lua % "'ZSCORE', KEYS[1], 'a'", 1, p + ":z"),
        C("EVAL", lua % "'GET', KEYS[1]", 1, p + ":none"),
        C("XADD", p + ":x", "1-0", "f", "v"), C("XINFO", "STREAM", p + ":x"),
        C("XINFO", "STREAM", p + ":x", "FULL"),
        C("XREAD", "STREAMS", p + ":x", 0), C("XREAD", "STREAMS", p + ":x", "$"),
        C("OBJECT", "FREQ", p + ":h"),
    ]


def errors(p, spread):
    return [
        C("GET"), C("GET", "a", "b"), C("SET", p + ":k"), C("PING", "a", "b"), C("ECHO"),
        C("NOSUCHCOMMAND"), C("NOSUCHCOMMAND", "arg1", "arg2"), C("nosuchcommand", "x" * 200),
        C("OBJECT", "NOSUCHSUB", p + ":k"), C("OBJECT"), C("XINFO", "NOPE"),
        C("SET", p + ":k", "v"), C("LPUSH", p + ":k", "x"), C("HGET", p + ":k", "f"),
        C("ZADD", p + ":k", 1, "a"), C("SADD", p + ":k", "a"), C("XADD", p + ":k", "*", "f", "v"),
        C("INCR", p + ":k"), C("SET", p + ":k", "v", "XX", "NX"), C("SET", p + ":k", "v", "BAD"),
        C("EXPIRE", p + ":k", "x"), C("GETRANGE", p + ":k", "a", "b"),
        C("LRANGE", p + ":missing", "a", 1), C("HINCRBYFLOAT", p + ":h", "f", "nan"),
        C("SETBIT", p + ":b", 4294967296, 1), C("ZRANGE", p + ":z", 0),
        C("XADD", p + ":x", "0-0", "f", "v"), C("XADD", p + ":x", "bad-id", "f", "v"),
        C("XADD", p + ":x", "1-1", "f"), C("SELECT", "x"), C("SELECT", 0), C("PING"),
        C("PING", "payload"), C("ECHO", "echoed"), C("TIME", norm=shape),
        C("DEL"), C("MGET"), C("SINTERCARD", 2, p + ":a"), C("ZUNION", 0),
        C("LMPOP", 1, p + ":l"), C("EVAL", "return 1"), C("EVALSHA", "0" * 40, "x"),
        C("CLIENT", "NOSUCHSUB"), C("COMMAND", "NOSUCHSUB"), C("XREAD", "STREAMS", p + ":x"),
    ]


FAMILIES = {
    "strings": strings, "bitmaps": bitmaps, "hashes": hashes, "lists": lists, "sets": sets,
    "sorted_sets": zsets, "hyperloglog": hyperloglog, "geo": geo, "streams": streams,
    "keys_expiry": keys_expiry, "split_multikey": split_multikey,
    "transactions": transactions, "blocking": blocking, "scripts": scripts,
    "functions": functions, "scan": scan, "pubsub": pubsub, "resp3_types": resp3_types,
    "errors": errors,
}
