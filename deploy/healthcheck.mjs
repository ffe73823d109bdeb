#!/usr/bin/env node
// The container's HEALTHCHECK (deploy/Dockerfile): is the edgeloop part in
// this container serving? Exit 0 healthy, 1 not (with one line on why).
//
//   node healthcheck.mjs [<part> [<port, or for an agent its pid>]]
//
// Without arguments it reads the part and its port from PID 1's command line
// (the container's `edgeloop <part> ...`); EDGELOOP_HEALTH_PORT overrides the
// port (a port set in a --config file is not on the command line).
//
//   coordinator, dashboard  GET http://127.0.0.1:<port>/metrics answers 200
//                           (default 8080 and 8081): the HTTP server and the
//                           event loop behind it are serving.
//   broker                  an MQTT CONNECT to 127.0.0.1:<port> (default
//                           1883) gets a CONNACK, whatever its return code:
//                           a broker that refuses a client without a log-in
//                           is still serving. No credentials are needed.
//   agent                   serves nothing to poll: its loop's health is
//                           what the coordinator watches (its data, its
//                           death certificate). Here only: the process is
//                           there and not stopped (state in /proc/1/stat).
//                           A crashed agent exits, and the restart policy
//                           starts it again.

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';

const TIMEOUT_MS = 4000;
const DEFAULT_PORTS = { coordinator: 8080, dashboard: 8081, broker: 1883 };
const PORT_FLAGS = { coordinator: '--dashboard-port', dashboard: '--port', broker: '--port' };

function fail(why) {
  console.log(`unhealthy: ${why}`);
  process.exit(1);
}

function ok(what) {
  console.log(`healthy: ${what}`);
  process.exit(0);
}

/** PID 1's arguments after the edgeloop script, e.g. ['coordinator', '--config', '...']. */
function pid1Args() {
  const argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  const i = argv.findIndex((a) => /(^|\/)edgeloop(\.js)?$/.test(a));
  return i < 0 ? [] : argv.slice(i + 1);
}

function httpCheck(port) {
  const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: TIMEOUT_MS }, (res) => {
    res.resume();
    if (res.statusCode === 200) ok(`GET http://127.0.0.1:${port}/metrics: 200`);
    else fail(`GET http://127.0.0.1:${port}/metrics: ${res.statusCode}`);
  });
  req.on('timeout', () => { req.destroy(); fail(`GET http://127.0.0.1:${port}/metrics: no answer within ${TIMEOUT_MS} ms`); });
  req.on('error', (err) => fail(`GET http://127.0.0.1:${port}/metrics: ${err.message}`));
  req.end();
}

// MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 10 s, a client id, nothing else.
function connectPacket() {
  const id = Buffer.from(`edgeloop-health-${process.pid}`);
  const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0x02, 0, 10, id.length >> 8, id.length & 0xff]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

function mqttCheck(port) {
  const s = connect({ host: '127.0.0.1', port });
  s.setTimeout(TIMEOUT_MS, () => { s.destroy(); fail(`MQTT 127.0.0.1:${port}: no CONNACK within ${TIMEOUT_MS} ms`); });
  s.on('connect', () => s.write(connectPacket()));
  // A CONNACK is 4 bytes (MQTT 3.1.1), which may come in more than one read.
  let got = Buffer.alloc(0);
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    if (got[0] !== 0x20) {
      s.destroy();
      fail(`MQTT 127.0.0.1:${port}: expected a CONNACK, got packet type ${got[0] >> 4}`);
    }
    if (got.length < 4) return;
    s.destroy();
    ok(`MQTT 127.0.0.1:${port}: CONNACK (return code ${got[3]})`);
  });
  s.on('end', () => fail(`MQTT 127.0.0.1:${port}: closed before a whole CONNACK (${got.length} bytes)`));
  s.on('error', (err) => fail(`MQTT 127.0.0.1:${port}: ${err.message}`));
}

function processCheck(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    fail(`no process ${pid}`);
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  if (state === 'T' || state === 't' || state === 'Z') fail(`process ${pid} is ${state === 'Z' ? 'a zombie' : 'stopped'} (state ${state})`);
  ok(`process ${pid} running (state ${state}); the loop's own health is the coordinator's to see`);
}

const args = process.argv.slice(2);
const fromPid1 = args.length === 0 ? pid1Args() : [];
const part = args[0] ?? fromPid1[0];
if (!part) fail('no edgeloop part on PID 1\'s command line, and none given');
const flagAt = fromPid1.indexOf(PORT_FLAGS[part]);
const port = Number(args[1] ?? process.env.EDGELOOP_HEALTH_PORT ?? (flagAt >= 0 ? fromPid1[flagAt + 1] : DEFAULT_PORTS[part]));
switch (part) {
  case 'coordinator':
  case 'dashboard':
    httpCheck(port);
    break;
  case 'broker':
    mqttCheck(port);
    break;
  case 'agent':
    processCheck(Number(args[1] ?? 1));
    break;
  default:
    fail(`unknown part '${part}': expected coordinator, dashboard, broker or agent`);
}
