'use strict';
// ioredis against a Redis-compatible server: the connect handshake in RESP3 (HELLO 3, then
// INFO for the ready check) or RESP2, a pipeline, MULTI/EXEC and WATCH, a blocking pop woken by
// another client, Pub/Sub across channels, and data-type round trips.
// Usage: node ioredis_check.js '{"port":P,"protocol":3,"prefix":"x","channels":[...],
//                               "split_keys":[...]}'
const Redis = require('ioredis');
const { assert, config, watchdog, step, finish, sleep, helloProto, until } = require('./common');

const cfg = config();
watchdog(cfg.timeout_ms || 50000);
const p = cfg.prefix;
const tag = (name) => `{${p}}:${name}`;  // keys sharing one node (hash tag)

function newClient() {
  const client = new Redis({
    host: '127.0.0.1',
    port: cfg.port,
    protocol: cfg.protocol,
    connectionName: `${p}-ioredis`,
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: 8000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', (err) => console.error(`client error event: ${err.message}`));
  return client;
}

async function main() {
  const client = newClient();
  try {
    await client.connect();
  } catch (err) {
    console.error(`FAIL connect: ${err.stack || err}`);
    process.exit(2);
  }
  console.log('ok connect');
  const others = [];
  const duplicate = async () => {
    const c = newClient();
    await c.connect();
    others.push(c);
    return c;
  };

  await step('handshake', async () => {
    // ioredis downgrades to RESP2 on its own when HELLO 3 fails with NOPROTO: check it did not.
    assert.equal(client.condition.protocol, cfg.protocol, 'negotiated protocol');
    assert.equal(helloProto(await client.call('HELLO')), cfg.protocol);
    assert.equal(await client.client('GETNAME'), `${p}-ioredis`);
    assert.equal(await client.ping(), 'PONG');
  });

  await step('strings', async () => {
    assert.equal(await client.set(`${p}:s`, 'hello'), 'OK');
    assert.equal(await client.get(`${p}:s`), 'hello');
    assert.equal(await client.append(`${p}:s`, ' world'), 11);
    assert.equal(await client.incrby(`${p}:n`, 5), 5);
    assert.equal(Number(await client.incrbyfloat(`${p}:n`, 0.5)), 5.5);
    assert.equal(await client.get(`${p}:missing`), null);
    const binary = Buffer.from([0, 1, 2, 255, 13, 10]);
    await client.set(`${p}:bin`, binary);
    assert.ok((await client.getBuffer(`${p}:bin`)).equals(binary));
    assert.equal(await client.set(`${p}:ttl`, 'v', 'EX', 100), 'OK');
    const ttl = await client.ttl(`${p}:ttl`);
    assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
  });

  await step('split_keys', async () => {
    const keys = cfg.split_keys;
    const flat = keys.flatMap((k, i) => [k, `v${i}`]);
    assert.equal(await client.mset(...flat), 'OK');
    assert.deepEqual(await client.mget(...keys, `${p}:nope`), [...keys.map((_, i) => `v${i}`), null]);
    assert.equal(await client.exists(...keys), keys.length);
    assert.equal(await client.unlink(...keys), keys.length);
  });

  await step('hash', async () => {
    assert.equal(await client.hset(`${p}:h`, { a: '1', b: '2' }), 2);
    assert.deepEqual(await client.hgetall(`${p}:h`), { a: '1', b: '2' });
    assert.equal(await client.hincrby(`${p}:h`, 'a', 10), 11);
  });

  await step('list_set_zset', async () => {
    assert.equal(await client.rpush(`${p}:l`, 'a', 'b', 'c'), 3);
    assert.deepEqual(await client.lrange(`${p}:l`, 0, -1), ['a', 'b', 'c']);
    assert.equal(await client.sadd(`${p}:set`, 'x', 'y', 'x'), 2);
    assert.deepEqual((await client.smembers(`${p}:set`)).sort(), ['x', 'y']);
    assert.equal(await client.zadd(`${p}:z`, 1.5, 'one', 2, 'two'), 2);
    const flat = (await client.zrange(`${p}:z`, 0, -1, 'WITHSCORES')).flat().map(String);
    assert.deepEqual(flat, ['one', '1.5', 'two', '2']);
    assert.equal(Number(await client.zscore(`${p}:z`, 'one')), 1.5);
  });

  await step('stream', async () => {
    const id = await client.xadd(`${p}:x`, '*', 'f', 'v');
    const entries = await client.xrange(`${p}:x`, '-', '+');
    assert.deepEqual(entries, [[id, ['f', 'v']]]);
  });

  await step('pipeline', async () => {
    const replies = await client.pipeline()
      .set(`${p}:pipe:a`, '1').incr(`${p}:pipe:a`).get(`${p}:pipe:a`).hset(`${p}:pipe:h`, 'f', 'v')
      .get(`${p}:s`).exec();
    assert.deepEqual(replies, [[null, 'OK'], [null, 2], [null, '2'], [null, 1], [null, 'hello world']]);
    const errorInside = await client.pipeline().set(`${p}:pipe:b`, 'x').incr(`${p}:pipe:b`).get(`${p}:pipe:b`).exec();
    assert.match(String(errorInside[1][0]), /not an integer/);
    assert.equal(errorInside[2][1], 'x');
  });

  await step('multi_exec', async () => {
    const replies = await client.multi()
      .set(tag('tx:a'), 'a').incr(tag('tx:n')).get(tag('tx:a')).lpush(tag('tx:l'), 'x')
      .exec();
    assert.deepEqual(replies, [[null, 'OK'], [null, 1], [null, 'a'], [null, 1]]);
  });

  await step('multi_watch', async () => {
    const other = await duplicate();
    await client.set(tag('w'), '0');
    await client.watch(tag('w'));
    assert.deepEqual(await client.multi().incr(tag('w')).exec(), [[null, 1]]);
    await client.watch(tag('w'));
    await other.set(tag('w'), 'changed');
    assert.equal(await client.multi().incr(tag('w')).exec(), null);  // aborted: EXEC gave nil
    assert.equal(await client.get(tag('w')), 'changed');
  });

  if (cfg.proxy) await step('multi_cross_node', async () => {
    const [a, b] = cfg.split_keys;
    await assert.rejects(client.multi().set(a, '1').set(b, '2').exec(), /EXECABORT|CROSSSLOT/);
    assert.equal(await client.exists(a, b), 0);
    assert.equal(await client.ping(), 'PONG');
  });

  await step('blocking_pop', async () => {
    const blocker = await duplicate();
    assert.equal(await blocker.blpop(`${p}:empty`, 0.3), null);  // times out: nil
    const started = Date.now();
    const popped = blocker.blpop(`${p}:queue`, 5);
    await sleep(300);
    assert.equal(await client.rpush(`${p}:queue`, 'job-1'), 1);
    const got = await popped;
    const waited = Date.now() - started;
    assert.deepEqual(got, [`${p}:queue`, 'job-1']);
    assert.ok(waited >= 250, `BLPOP returned after ${waited} ms, before the push`);
    assert.equal(await blocker.ping(), 'PONG');
  });

  await step('pubsub', async () => {
    const sub = await duplicate();
    const received = [];
    sub.on('message', (ch, message) => received.push([ch, message]));
    sub.on('pmessage', (pattern, ch, message) => received.push([pattern, ch, message]));
    assert.equal(await sub.subscribe(...cfg.channels), cfg.channels.length);
    for (const [i, channel] of cfg.channels.entries()) {
      assert.equal(await client.publish(channel, `m${i}`), 1, `PUBLISH ${channel}`);
    }
    await until(() => received.length >= cfg.channels.length, 5000, 'messages');
    assert.deepEqual(received.slice().sort(), cfg.channels.map((c, i) => [c, `m${i}`]).sort());
    // PING in subscribed mode: RESP3 answers PONG, RESP2 the array ["pong", ""], as Redis does.
    const pong = await sub.ping();
    assert.deepEqual(pong, cfg.protocol === 3 ? 'PONG' : ['pong', '']);
    await sub.psubscribe(`${p}:pat:*`);
    assert.equal(await client.publish(`${p}:pat:one`, 'pm'), 1);
    await until(() => received.length >= cfg.channels.length + 1, 5000, 'pattern message');
    assert.deepEqual(received[cfg.channels.length], [`${p}:pat:*`, `${p}:pat:one`, 'pm']);
    // By name: ioredis 6.0.0 in RESP3 never resolves an UNSUBSCRIBE without arguments, even
    // against Redis itself.
    await sub.unsubscribe(...cfg.channels);
    await sub.punsubscribe(`${p}:pat:*`);
    assert.equal(await sub.get(`${p}:s`), 'hello world');  // normal commands again
  });

  for (const c of others) c.disconnect();
  client.disconnect();
  finish();
}

main().catch((err) => {
  console.error(`FAIL unexpected: ${err.stack || err}`);
  process.exit(1);
});
