'use strict';
// node-redis (npm "redis") against a Redis-compatible server: the connect handshake in RESP3
// (HELLO 3, the client's default) or RESP2, a pipeline, MULTI/EXEC and WATCH, a blocking pop
// woken by another client, Pub/Sub across channels, and data-type round trips.
// Usage: node node_redis_check.js '{"port":P,"protocol":3,"prefix":"x","channels":[...],
//                                   "split_keys":[...]}'
const { createClient } = require('redis');
const { assert, config, watchdog, step, finish, sleep, helloProto, until } = require('./common');

const cfg = config();
watchdog(cfg.timeout_ms || 50000);
const p = cfg.prefix;
const tag = (name) => `{${p}}:${name}`;  // keys sharing one node (hash tag)

function newClient() {
  const client = createClient({
    socket: { host: '127.0.0.1', port: cfg.port, connectTimeout: 5000, reconnectStrategy: false },
    RESP: cfg.protocol,
    name: `${p}-node-redis`,
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
    const c = client.duplicate();
    c.on('error', (err) => console.error(`duplicate error event: ${err.message}`));
    await c.connect();
    others.push(c);
    return c;
  };

  await step('handshake', async () => {
    assert.equal(helloProto(await client.sendCommand(['HELLO'])), cfg.protocol);
    assert.equal(await client.clientGetName(), `${p}-node-redis`);
    assert.equal(await client.ping(), 'PONG');
  });

  await step('strings', async () => {
    assert.equal(await client.set(`${p}:s`, 'hello'), 'OK');
    assert.equal(await client.get(`${p}:s`), 'hello');
    assert.equal(await client.append(`${p}:s`, ' world'), 11);
    assert.equal(await client.incrBy(`${p}:n`, 5), 5);
    assert.equal(Number(await client.incrByFloat(`${p}:n`, 0.5)), 5.5);
    assert.equal(await client.get(`${p}:missing`), null);
    const binary = Buffer.from([0, 1, 2, 255, 13, 10]);
    await client.set(`${p}:bin`, binary);
    const back = await client.withTypeMapping({ [36]: Buffer }).get(`${p}:bin`);
    assert.ok(Buffer.from(back).equals(binary), `binary round trip gave ${back}`);
  });

  await step('split_keys', async () => {
    const keys = cfg.split_keys;
    const pairs = {};
    keys.forEach((k, i) => { pairs[k] = `v${i}`; });
    assert.equal(await client.mSet(pairs), 'OK');
    assert.deepEqual(await client.mGet([...keys, `${p}:nope`]), [...keys.map((_, i) => `v${i}`), null]);
    assert.equal(await client.exists(keys), keys.length);
    assert.equal(await client.del(keys), keys.length);
  });

  await step('hash', async () => {
    assert.equal(await client.hSet(`${p}:h`, { a: '1', b: '2' }), 2);
    assert.deepEqual({ ...(await client.hGetAll(`${p}:h`)) }, { a: '1', b: '2' });
    assert.equal(await client.hIncrBy(`${p}:h`, 'a', 10), 11);
  });

  await step('list_set_zset', async () => {
    assert.equal(await client.rPush(`${p}:l`, ['a', 'b', 'c']), 3);
    assert.deepEqual(await client.lRange(`${p}:l`, 0, -1), ['a', 'b', 'c']);
    assert.equal(await client.sAdd(`${p}:set`, ['x', 'y', 'x']), 2);
    assert.deepEqual((await client.sMembers(`${p}:set`)).sort(), ['x', 'y']);
    assert.equal(await client.zAdd(`${p}:z`, [{ score: 1.5, value: 'one' }, { score: 2, value: 'two' }]), 2);
    const withScores = await client.zRangeWithScores(`${p}:z`, 0, -1);
    assert.deepEqual(withScores.map((e) => [e.value, Number(e.score)]), [['one', 1.5], ['two', 2]]);
    assert.equal(Number(await client.zScore(`${p}:z`, 'one')), 1.5);
  });

  await step('stream', async () => {
    const id = await client.xAdd(`${p}:x`, '*', { f: 'v' });
    const entries = await client.xRange(`${p}:x`, '-', '+');
    assert.equal(entries.length, 1);
    assert.equal(entries[0].id, id);
    assert.equal(entries[0].message.f, 'v');
  });

  await step('pipeline', async () => {
    const replies = await client.multi()
      .set(`${p}:pipe:a`, '1').incr(`${p}:pipe:a`).get(`${p}:pipe:a`).hSet(`${p}:pipe:h`, 'f', 'v')
      .execAsPipeline();
    assert.deepEqual(replies, ['OK', 2, '2', 1]);
    // Many concurrent commands: node-redis pipelines them on its one connection.
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => client.set(`${p}:many:${i}`, String(i))));
    assert.ok(many.every((r) => r === 'OK'));
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => client.get(`${p}:many:${i}`)));
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => String(i)));
  });

  await step('multi_exec', async () => {
    const replies = await client.multi()
      .set(tag('tx:a'), 'a').incr(tag('tx:n')).get(tag('tx:a')).lPush(tag('tx:l'), 'x')
      .exec();
    assert.deepEqual(replies, ['OK', 1, 'a', 1]);
  });

  await step('multi_watch', async () => {
    const other = await duplicate();
    await client.set(tag('w'), '0');
    // An untouched watched key: EXEC runs.
    await client.watch(tag('w'));
    assert.deepEqual(await client.multi().incr(tag('w')).exec(), [1]);
    // The watched key changed by another client: EXEC aborts (node-redis throws WatchError).
    await client.watch(tag('w'));
    await other.set(tag('w'), 'changed');
    await assert.rejects(client.multi().incr(tag('w')).exec(), (err) => /watch/i.test(err.name + err.message));
    assert.equal(await client.get(tag('w')), 'changed');
  });

  // Keys on different nodes in one transaction: only through the proxy (one Redis has one node).
  if (cfg.proxy) await step('multi_cross_node', async () => {
    const [a, b] = cfg.split_keys;
    await assert.rejects(client.multi().set(a, '1').set(b, '2').exec());
    assert.equal(await client.exists([a, b]), 0);
    assert.equal(await client.ping(), 'PONG');  // the connection is usable afterwards
  });

  await step('blocking_pop', async () => {
    const blocker = await duplicate();
    assert.equal(await blocker.blPop(`${p}:empty`, 0.3), null);  // times out: nil
    const started = Date.now();
    const popped = blocker.blPop(`${p}:queue`, 5);
    await sleep(300);
    assert.equal(await client.rPush(`${p}:queue`, 'job-1'), 1);
    const got = await popped;
    const waited = Date.now() - started;
    assert.deepEqual({ ...got }, { key: `${p}:queue`, element: 'job-1' });
    assert.ok(waited >= 250, `BLPOP returned after ${waited} ms, before the push`);
    assert.equal(await blocker.ping(), 'PONG');
  });

  await step('pubsub', async () => {
    const sub = await duplicate();
    const received = [];
    for (const channel of cfg.channels) {
      await sub.subscribe(channel, (message, ch) => received.push([ch, message]));
    }
    for (const [i, channel] of cfg.channels.entries()) {
      assert.equal(await client.publish(channel, `m${i}`), 1, `PUBLISH ${channel}`);
    }
    await until(() => received.length >= cfg.channels.length, 5000, 'messages');
    assert.deepEqual(received.sort(), cfg.channels.map((c, i) => [c, `m${i}`]).sort());
    const patternHits = [];
    await sub.pSubscribe(`${p}:pat:*`, (message, ch) => patternHits.push([ch, message]));
    assert.equal(await client.publish(`${p}:pat:one`, 'pm'), 1);
    await until(() => patternHits.length >= 1, 5000, 'pattern message');
    assert.deepEqual(patternHits, [[`${p}:pat:one`, 'pm']]);
    await sub.unsubscribe();
    await sub.pUnsubscribe();
    assert.equal(String(await sub.ping()), 'PONG');  // RESP2: a Buffer right after UNSUBSCRIBE
    assert.equal(String(await sub.get(`${p}:s`)), 'hello world');  // normal commands again
  });

  for (const c of others) c.destroy();
  client.destroy();
  finish();
}

main().catch((err) => {
  console.error(`FAIL unexpected: ${err.stack || err}`);
  process.exit(1);
});
