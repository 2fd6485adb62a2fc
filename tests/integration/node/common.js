'use strict';
// Shared by the client checks: argument parsing, a watchdog, named steps with their own
// timeouts, and the result line test_node_clients.py looks for. A check prints "ok <step>" for
// every step that passed and "FAIL <step>: <why>" for the others; the exit code is 0 only when
// every step passed (1: a step failed, 2: could not connect, 3: the watchdog fired).

const assert = require('node:assert/strict');

const STEP_TIMEOUT_MS = 10000;
let current = 'start';
let failures = 0;
let passed = 0;

function config() {
  if (process.argv.length < 3) {
    console.error('usage: node <check>.js \'{"port": P, "protocol": 2|3, ...}\'');
    process.exit(2);
  }
  return JSON.parse(process.argv[2]);
}

function watchdog(ms) {
  setTimeout(() => {
    console.error(`FAIL ${current}: watchdog fired after ${ms} ms`);
    process.exit(3);
  }, ms).unref();
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function step(name, fn) {
  current = name;
  try {
    await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS, name);
    passed++;
    console.log(`ok ${name}`);
  } catch (err) {
    failures++;
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

function finish() {
  if (failures === 0) {
    console.log(`all checks passed (${passed})`);
    process.exit(0);
  }
  console.error(`${failures} step(s) failed, ${passed} passed`);
  process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The "proto" field of a HELLO reply, whatever shape the client gives a RESP3 map or a RESP2
// array: [k1, v1, ...], a Map, or a plain object.
function helloProto(reply) {
  if (Array.isArray(reply)) {
    const at = reply.findIndex((v) => String(v) === 'proto');
    return at >= 0 ? Number(reply[at + 1]) : undefined;
  }
  if (reply instanceof Map) return Number(reply.get('proto'));
  return reply ? Number(reply.proto) : undefined;
}

// Waits until `predicate()` holds, polling; rejects after `ms`.
async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

module.exports = { assert, config, watchdog, step, finish, sleep, helloProto, until };
