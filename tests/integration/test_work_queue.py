#!/usr/bin/env python3
"""The tutorial's work queue (docs: distributed caching with Redis, "Work queue implementation
with blocking operations") through sidecache over 3 nodes: producers RPUSH JSON tasks onto
task_queue:<name>, workers dequeue with BLPOP and a timeout (a timeout means "no task yet"), and
every task must be consumed exactly once. The queues live on different nodes; python3-redis
(RESP2) is the client, one connection per producer and per worker, as an application has.
"""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PRODUCERS_PER_QUEUE = 2
WORKERS_PER_QUEUE = 3
TASKS_PER_PRODUCER = 150
BLPOP_TIMEOUT_S = 1
DEADLINE_S = 90


class WorkQueue(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def queue_names(self):
        """One queue name per node: task_queue:<name> keys hashing to nodes 0, 1 and 2."""
        names, i = {}, 0
        while len(names) < 3 and i < 1000:
            name = "q%d" % i
            node = self.cluster.probe(["task_queue:" + name])[0]
            names.setdefault(node, name)
            i += 1
        self.assertEqual(len(names), 3, "no queue name for every node")
        return [names[n] for n in sorted(names)]

    def test_every_task_consumed_exactly_once(self):
        queues = self.queue_names()
        deadline = time.monotonic() + DEADLINE_S
        consumed = {q: [] for q in queues}
        timeouts = {q: 0 for q in queues}
        errors = []
        producers_done = threading.Event()
        lock = threading.Lock()

        def enqueue_tasks(queue, producer):
            client = self.cluster.client(socket_timeout=10)
            try:
                for n in range(TASKS_PER_PRODUCER):
                    task = {"id": "%s-%d-%d" % (queue, producer, n), "type": "email",
                            "payload": {"n": n}}
                    client.rpush("task_queue:" + queue, json.dumps(task))
                    if n % 50 == 0:
                        time.sleep(0.05)  # let workers drain the queue and block again
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("producer %s/%d: %r" % (queue, producer, e))
            finally:
                client.close()

        def dequeue_tasks(queue):
            # socket_timeout above the BLPOP timeout: a blocked BLPOP is not a dead socket.
            client = self.cluster.client(socket_timeout=BLPOP_TIMEOUT_S + 10)
            try:
                while time.monotonic() < deadline:
                    result = client.blpop(["task_queue:" + queue], timeout=BLPOP_TIMEOUT_S)
                    if result is None:  # timeout: no task available
                        with lock:
                            timeouts[queue] += 1
                        if producers_done.is_set():
                            return
                        continue
                    key, data = result
                    if key != b"task_queue:" + queue.encode():
                        errors.append("BLPOP answered key %r for %s" % (key, queue))
                    with lock:
                        consumed[queue].append(json.loads(data)["id"])
            except Exception as e:  # noqa: BLE001
                errors.append("worker %s: %r" % (queue, e))
            finally:
                client.close()

        workers = [threading.Thread(target=dequeue_tasks, args=(q,), daemon=True)
                   for q in queues for _ in range(WORKERS_PER_QUEUE)]
        for w in workers:  # workers first: they block on empty queues, producers wake them
            w.start()
        time.sleep(0.3)
        producers = [threading.Thread(target=enqueue_tasks, args=(q, p), daemon=True)
                     for q in queues for p in range(PRODUCERS_PER_QUEUE)]
        for p in producers:
            p.start()
        for p in producers:
            p.join(max(0.1, deadline - time.monotonic()))
        producers_done.set()
        for w in workers:
            w.join(max(0.1, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in producers + workers), "threads still running")
        self.assertEqual(errors, [])
        for q in queues:
            expected = sorted("%s-%d-%d" % (q, p, n) for p in range(PRODUCERS_PER_QUEUE)
                              for n in range(TASKS_PER_PRODUCER))
            self.assertEqual(len(consumed[q]), len(set(consumed[q])), "a task consumed twice")
            self.assertEqual(sorted(consumed[q]), expected, "queue %s" % q)
            self.assertGreater(timeouts[q], 0, "no BLPOP ever timed out on %s" % q)
        for i, q in enumerate(queues):  # the queue lived on its node and is empty now
            self.assertEqual(self.cluster.probe(["task_queue:" + q]), [i])
            for node in range(3):
                self.assertEqual(self.cluster.direct(node).llen("task_queue:" + q), 0)

    def test_blpop_timeout_and_order(self):
        client = self.cluster.client(socket_timeout=10)
        queue = "task_queue:" + self.queue_names()[1]
        started = time.monotonic()
        self.assertIsNone(client.blpop([queue], timeout=1))
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        client.rpush(queue, "first", "second")
        self.assertEqual(client.blpop([queue], timeout=1), (queue.encode(), b"first"))
        self.assertEqual(client.brpop([queue], timeout=1), (queue.encode(), b"second"))
        client.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
