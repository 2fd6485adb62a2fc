'use strict';
// ioredis or node-redis with a user and password (HELLO 3 AUTH / AUTH on connect), optionally
// over TLS: a round trip, a NOPERM reply for a key outside the user's patterns, and a client
// with a wrong password that must fail with WRONGPASS.
// Usage: node auth_tls_check.js '{"client":"ioredis"|"node-redis","port":P,"protocol":3,
//   "user":"app","password":"pw","key":"product:1","denied_key":"secret:1",
//   "tls":{"ca":"/path/ca.crt","cert":"...","key":"..."}|null}'
const fs = require('node:fs');
const { assert, config, watchdog, step, finish } = require('./common');

const cfg = config();
watchdog(cfg.timeout_ms || 50000);

function tlsOptions() {
  if (!cfg.tls) return undefined;
  const out = { ca: fs.readFileSync(cfg.tls.ca), servername: '127.0.0.1' };
  if (cfg.tls.cert) {
    out.cert = fs.readFileSync(cfg.tls.cert);
    out.key = fs.readFileSync(cfg.tls.key);
  }
  return out;
}

function makeClient(password) {
  if (cfg.client === 'ioredis') {
    const Redis = require('ioredis');
    const c = new Redis({
      host: '127.0.0.1', port: cfg.port, protocol: cfg.protocol, username: cfg.user, password,
      tls: tlsOptions(), lazyConnect: true, connectTimeout: 5000, commandTimeout: 8000,
      maxRetriesPerRequest: 0, retryStrategy: () => null,
    });
    const wrapped = { connect: () => c.connect(), call: (...a) => c.call(...a),
                      quit: () => c.quit(), lastError: null };
    // ioredis reports the AUTH error as an 'error' event; connect() then says the connection
    // closed.
    c.on('error', (err) => { wrapped.lastError = err; });
    return wrapped;
  }
  const { createClient } = require('redis');
  const socket = { host: '127.0.0.1', port: cfg.port, connectTimeout: 5000,
                   reconnectStrategy: false };
  if (cfg.tls) Object.assign(socket, { tls: true }, tlsOptions());
  const c = createClient({ socket, RESP: cfg.protocol, username: cfg.user, password });
  c.on('error', () => {});
  return { connect: () => c.connect(), call: (...a) => c.sendCommand(a), quit: () => c.quit() };
}

async function main() {
  const client = makeClient(cfg.password);
  try {
    await client.connect();
  } catch (err) {
    console.error(`FAIL connect: ${err.stack || err}`);
    process.exit(2);
  }
  console.log('ok connect');
  await step('whoami', async () => assert.equal(String(await client.call('ACL', 'WHOAMI')), cfg.user));
  await step('round_trip', async () => {
    assert.equal(String(await client.call('SET', cfg.key, 'v1')), 'OK');
    assert.equal(String(await client.call('GET', cfg.key)), 'v1');
  });
  await step('noperm', async () => {
    await assert.rejects(client.call('GET', cfg.denied_key), (err) => {
      assert.match(String(err.message), /^NOPERM this user has no permissions to access one of the keys/);
      return true;
    });
  });
  await client.quit();
  await step('wrongpass', async () => {
    const bad = makeClient(cfg.password + 'x');
    await assert.rejects(bad.connect(), (err) => {
      const seen = `${err.message} ${bad.lastError ? bad.lastError.message : ''}`;
      assert.match(seen, /WRONGPASS invalid username-password pair/);
      return true;
    });
  });
  finish();
}

main().catch((err) => {
  console.error(`FAIL main: ${err.stack || err}`);
  process.exit(1);
});
