#!/usr/bin/env python3
"""Scripts and functions through sidecache over 3 redis-server nodes: EVALSHA keeps working
after a node lost its scripts (SCRIPT FLUSH or restart behind sidecache's back): sidecache
loads the body it remembered and retries, counted in sidecache_script_reloads_total. SCRIPT
FLUSH through sidecache forgets. FUNCTION LOAD reaches every node, so FCALL works on keys of
every node; EVAL_RO / EVALSHA_RO / FCALL_RO too."""
import http.client
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402

BODY = "return redis.call('GET', KEYS[1])"
WRITE = "return redis.call('SET', KEYS[1], ARGV[1])"
LIB = ("#!lua name=sclib\n"
       "redis.register_function('sc_get', function(keys, args) "
       "return redis.call('GET', keys[1]) end)\n"
       "redis.register_function{function_name='sc_get_ro', callback=function(keys, args) "
       "return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n"
       "redis.register_function('sc_set', function(keys, args) "
       "return redis.call('SET', keys[1], args[1]) end)\n")


class Scripts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(
            3, workers=2, top_extra="http:\n  listen: 127.0.0.1:%d\n" % cls.http_port)
        cls.keys = [k[0] for k in harness.keys_on_nodes(cls.cluster, 1, prefix="sc")]
        cls.client = cls.cluster.client()
        for i, key in enumerate(cls.keys):
            cls.client.set(key, "value-%d" % i)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def metric(self, name):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
        self.assertIsNotNone(m, name)
        return float(m.group(1))

    def test_a_evalsha_healed_after_script_flush_on_a_node(self):
        sha = self.client.script_load(BODY)
        for i in range(3):
            self.assertEqual(self.cluster.direct(i).script_exists(sha), [True])
        before = self.metric("sidecache_script_reloads_total")
        # Node 1 loses its scripts behind sidecache's back.
        self.cluster.direct(1).script_flush()
        self.assertEqual(self.cluster.direct(1).script_exists(sha), [False])
        self.assertEqual(self.client.evalsha(sha, 1, self.keys[1]), b"value-1")
        self.assertEqual(self.cluster.direct(1).script_exists(sha), [True])  # loaded again
        self.assertEqual(self.metric("sidecache_script_reloads_total"), before + 1)
        # The other nodes never needed it.
        self.assertEqual(self.client.evalsha(sha, 1, self.keys[0]), b"value-0")
        self.assertEqual(self.client.evalsha(sha, 1, self.keys[2]), b"value-2")
        self.assertEqual(self.metric("sidecache_script_reloads_total"), before + 1)

    def test_b_eval_bodies_are_remembered_too(self):
        self.assertEqual(self.client.eval(WRITE, 1, self.keys[0], "w0"), b"OK")
        sha = self.client.script_load(WRITE)  # the same sha EVAL used
        before = self.metric("sidecache_script_reloads_total")
        for i in range(3):
            self.cluster.direct(i).script_flush()
        for i, key in enumerate(self.keys):
            self.assertEqual(self.client.evalsha(sha, 1, key, "w%d" % i), b"OK")
            self.assertEqual(self.cluster.direct(i).get(key), b"w%d" % i)
            self.client.set(key, "value-%d" % i)
        # EVALSHA_RO heals the same way.
        ro_sha = self.client.script_load(BODY)
        self.cluster.direct(2).script_flush()
        self.assertEqual(self.client.execute_command("EVALSHA_RO", ro_sha, 1, self.keys[2]),
                         b"value-2")
        self.assertEqual(self.metric("sidecache_script_reloads_total"), before + 4)

    def test_c_unknown_and_flushed_scripts_answer_noscript(self):
        with self.assertRaises(redis.exceptions.NoScriptError):
            self.client.evalsha("0" * 40, 1, self.keys[0])
        sha = self.client.script_load(BODY)
        self.assertTrue(self.client.script_flush())  # through sidecache: every node, and us
        for i in range(3):
            self.assertEqual(self.cluster.direct(i).script_exists(sha), [False])
        with self.assertRaises(redis.exceptions.NoScriptError):
            self.client.evalsha(sha, 1, self.keys[1])
        self.assertEqual(self.client.script_exists(sha), [False])

    def test_d_eval_ro(self):
        for i, key in enumerate(self.keys):
            self.assertEqual(self.client.execute_command("EVAL_RO", BODY, 1, key),
                             b"value-%d" % i)
        with self.assertRaises(redis.exceptions.ResponseError) as err:
            self.client.execute_command("EVAL_RO", WRITE, 1, self.keys[0], "x")
        self.assertIn("Write commands are not allowed", str(err.exception))
        with self.assertRaises(redis.exceptions.ResponseError) as err:
            self.client.execute_command("EVAL", BODY, 2, self.keys[0], self.keys[1])
        self.assertIn("CROSSSLOT", str(err.exception))

    def test_e_functions_on_every_node(self):
        self.assertEqual(self.client.execute_command("FUNCTION", "LOAD", LIB), b"sclib")
        for i in range(3):
            libs = self.cluster.direct(i).execute_command("FUNCTION", "LIST")
            self.assertEqual(len(libs), 1)
        for i, key in enumerate(self.keys):
            self.assertEqual(self.client.execute_command("FCALL", "sc_get", 1, key),
                             b"value-%d" % i)
            self.assertEqual(self.client.execute_command("FCALL_RO", "sc_get_ro", 1, key),
                             b"value-%d" % i)
            self.assertEqual(self.client.execute_command("FCALL", "sc_set", 1, key, "f%d" % i),
                             b"OK")
            self.assertEqual(self.cluster.direct(i).get(key), b"f%d" % i)
            self.client.set(key, "value-%d" % i)
        listed = self.client.execute_command("FUNCTION", "LIST")
        self.assertEqual(len(listed), 1)
        self.assertIn(b"sclib", listed[0])
        # Loading again needs REPLACE, on every node alike.
        with self.assertRaises(redis.exceptions.ResponseError) as err:
            self.client.execute_command("FUNCTION", "LOAD", LIB)
        self.assertIn("already exists", str(err.exception))
        self.assertEqual(self.client.execute_command("FUNCTION", "LOAD", "REPLACE", LIB),
                         b"sclib")
        dump = self.client.execute_command("FUNCTION", "DUMP")
        self.assertTrue(self.client.execute_command("FUNCTION", "DELETE", "sclib"))
        with self.assertRaises(redis.exceptions.ResponseError):
            self.client.execute_command("FCALL", "sc_get", 1, self.keys[0])
        self.assertTrue(self.client.execute_command("FUNCTION", "RESTORE", dump))
        self.assertEqual(self.client.execute_command("FCALL", "sc_get", 1, self.keys[2]),
                         b"value-2")
        self.assertTrue(self.client.execute_command("FUNCTION", "FLUSH"))
        for i in range(3):
            self.assertEqual(self.cluster.direct(i).execute_command("FUNCTION", "LIST"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
