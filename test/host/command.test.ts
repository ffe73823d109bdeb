// `edgeloop command` as an operator runs it: a real broker (the embedded
// aedes with users and ACLs, and a Mosquitto the test starts), a real Agent
// closing its loop on a simulated chamber, and the command's own function,
// with its printed line and exit code. Then the same through commander, as
// main.ts registers it. Everything on loopback; every wait is bounded by
// the command's --timeout; nothing asserts on wall-clock durations.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../host/agent/agent.js';
import { authorize, type Principal } from '../../host/mqtt/acl.js';
import { startEmbeddedBroker, type EmbeddedBroker, type User } from '../../host/mqtt/broker.js';
import { encodePayload } from '../../host/mqtt/codec.js';
import { COMMAND_EXIT, operatorCommand, parseOperatorRequest, registerCommand, type OperatorCommandOptions } from '../../host/cli/command.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';
import { freePort, MOSQUITTO_MISSING, startBroker } from '../support/brokers.js';

const USERS: User[] = [
  { username: 'gw1', password: 'gw1-secret', role: 'agent', group: 'plant1', node: 'gw1' },
  { username: 'alice', password: 'alice-secret', role: 'operator' },
  { username: 'viewer', password: 'viewer-secret', role: 'observer' },
  { username: 'gw2', password: 'gw2-secret', role: 'agent', group: 'plant1', node: 'gw2' },
];
const LOOP = 'plant1/gw1/loop1';

/** A chamber loop at 80 C on its own 10 Hz schedule, its clock starting at 0 (as `edgeloop agent` starts it). */
function startAgent(broker: string, node: string, login?: { username: string; password: string }): Agent {
  const core = freshCore();
  core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100,
    model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000 });
  core.setSetpoint(80, 0);
  const t0 = performance.now();
  const agent = new Agent({ group: 'plant1', node, device: 'loop1', core, binding: chamberBinding(), broker, ...login,
    clockUs: () => Math.round((performance.now() - t0) * 1000),
    // No setpoint refresh after the first tick: the agent's refresh re-sends the setpoint of the tick before, so a
    // command applied on a refresh tick is undone (host/agent/agent.ts, goodSetpoint; reported). Not this test's subject.
    setpointRefreshUs: 3_600_000_000 });
  agent.start();
  return agent;
}

/** One run of the command: its exit code, and what it printed on stdout and stderr. */
async function command(target: string, action: string, value: string | undefined, o: Partial<OperatorCommandOptions>, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await operatorCommand(target, action, value, { broker: broker.url, ...o }, (l) => out.push(l), (l) => err.push(l), env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let broker: EmbeddedBroker;
let agent: Agent;
let dir: string;
const alice = () => ({ username: 'alice', passwordFile: join(dir, 'alice.pw') });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgeloop-command-'));
  writeFileSync(join(dir, 'alice.pw'), 'alice-secret\n');
  broker = await startEmbeddedBroker({ users: USERS });
  agent = startAgent(broker.url, 'gw1', { username: 'gw1', password: 'gw1-secret' });
});

afterAll(async () => {
  await agent?.stop();
  await broker?.close();
});

describe('the operator role (broker ACL)', () => {
  const op: Principal = { role: 'operator', username: 'alice' };
  it('publishes DCMD to any agent and nothing else; reads births, deaths and data, no wildcard #', () => {
    expect(authorize(op, 'publish', 'spBv1.0/plant1/DCMD/gw1/loop1')).toEqual({ ok: true });
    expect(authorize(op, 'publish', 'spBv1.0/plant9/DCMD/gw7/any')).toEqual({ ok: true });
    for (const t of ['spBv1.0/plant1/NCMD/gw1', 'spBv1.0/STATE/coord', 'spBv1.0/plant1/DDATA/gw1/loop1', 'spBv1.0/plant1/NBIRTH/gw1', 'other/topic']) {
      expect(authorize(op, 'publish', t), t).toEqual({ ok: false, reason: 'operator-scope' });
    }
    for (const t of ['spBv1.0/plant1/DDATA/gw1/loop1', 'spBv1.0/+/DDATA/+/+', 'spBv1.0/plant1/DBIRTH/gw1/loop1', 'spBv1.0/plant1/DDEATH/gw1/+',
      'spBv1.0/plant1/NDEATH/gw1', 'spBv1.0/+/NBIRTH/+']) {
      expect(authorize(op, 'subscribe', t), t).toEqual({ ok: true });
    }
    for (const t of ['spBv1.0/#', 'spBv1.0/plant1/DCMD/gw1/loop1', 'spBv1.0/plant1/NCMD/gw1', 'spBv1.0/STATE/+', 'spBv1.0/plant1/+/gw1/loop1', 'spBv1.0/plant1/DDATA/gw1']) {
      expect(authorize(op, 'subscribe', t), t).toEqual({ ok: false, reason: 'operator-scope' });
    }
    expect(authorize(op, 'subscribe', '$SYS/#')).toEqual({ ok: false, reason: 'reserved-topic' });
  });
});

describe('the operator role (what its commands may carry)', () => {
  it('the broker reads an operator\'s DCMD: a parameter change (the envelope), a deploy or a rollback is refused there and never reaches the agent; a setpoint goes through', async () => {
    // An operator bypassing the CLI with a raw client: env_max=1000 would widen the loop's safety envelope.
    const raw = await mqtt.connectAsync(broker.url, { username: 'alice', password: 'alice-secret', reconnectPeriod: 0 });
    try {
      const dcmd = `spBv1.0/plant1/DCMD/gw1/loop1`;
      const envMax = agent.core.param('env_max');
      const before = broker.counters.denied.byReason['operator-scope'];
      const handled = agent.stats.commandsApplied + agent.stats.commandsRejected;
      const send = (metric: { name: string; type: 'String' | 'Boolean' | 'Double'; value: string | boolean | number }, id: string) =>
        raw.publishAsync(dcmd, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'command/id', type: 'String', value: id }, metric] })), { qos: 1 });
      await send({ name: 'command/param', type: 'String', value: 'env_max=1000' }, 'x-1');
      await send({ name: 'command/rollback', type: 'Boolean', value: true }, 'x-2');
      await raw.publishAsync(dcmd, Buffer.from([1, 2, 3]), { qos: 1 });
      for (let i = 0; i < 100 && broker.counters.denied.byReason['operator-scope'] < before + 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(broker.counters.denied.byReason['operator-scope']).toBe(before + 3);
      await new Promise((r) => setTimeout(r, 300));   // ticks pass: nothing arrived to apply
      expect(agent.core.param('env_max')).toBe(envMax);
      expect(agent.stats.commandsApplied + agent.stats.commandsRejected).toBe(handled);
      const r = await command(LOOP, 'setpoint', '71', alice());
      expect(r.code).toBe(COMMAND_EXIT.accepted);
    } finally {
      await raw.endAsync();
    }
  });
});

describe('edgeloop command against the embedded broker, with an operator log-in', () => {
  it('setpoint: accepted, printed in one line with the loop after it, and in the agent\'s core', async () => {
    // alice sets 70 C -> the DCMD goes out once the loop's data is seen -> the next tick applies it -> ack "ok"
    const r = await command(LOOP, 'setpoint', '70', alice());
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^plant1\/gw1\/loop1: setpoint 70: accepted; loop (NOMINAL|DEGRADED), setpoint 70, held$/);
    expect(r.code).toBe(COMMAND_EXIT.accepted);
    expect(agent.core.setpoint).toBe(70);
  });

  it('hold, then release: the loop stops following its reference and follows it again (the ack says held, then not held)', async () => {
    const held = await command(LOOP, 'hold', undefined, alice());
    expect(held.out).toMatch(/: hold: accepted; loop \w+, setpoint [\d.]+, held$/);
    expect(held.code).toBe(0);
    expect(agent.followingReference).toBe(false);
    const released = await command(LOOP, 'release', undefined, alice());
    expect(released.out).toMatch(/: release: accepted; loop \w+, setpoint [\d.]+, not held$/);
    expect(released.code).toBe(0);
    expect(agent.followingReference).toBe(true);
  });

  it('reset: accepted, with what the core released', async () => {
    const r = await command(LOOP, 'reset', undefined, alice());
    expect(r.out).toMatch(/: reset: accepted \(released \d+(; still latched: [\w,]+)?\); loop /);
    expect(r.code).toBe(0);
  });

  it('mode fallback, then mode none: the demand, acknowledged, and back to the guard\'s own choice', async () => {
    const fb = await command(LOOP, 'mode', 'fallback', alice());
    expect(fb.out).toMatch(/: mode fallback: accepted \(demand fallback\); loop FALLBACK, /);
    expect(fb.code).toBe(0);
    const none = await command(LOOP, 'mode', 'none', alice());
    expect(none.out).toMatch(/: mode none: accepted \(demand none\); loop /);
    expect(none.code).toBe(0);
  });

  it('a setpoint the core refuses: rejected with its reason, exit 3; the setpoint stays', async () => {
    const before = agent.core.setpoint;
    const r = await command(LOOP, 'setpoint', '500', alice());
    expect(r.out).toMatch(/: setpoint 500: REJECTED by the agent: parameter 'setpoint': expected a number in \[-10, 200\], received 500/);
    expect(r.code).toBe(COMMAND_EXIT.rejected);
    expect(agent.core.setpoint).toBe(before);
  });

  it('a loop nobody runs: no acknowledgement, exit 4, "no agent seen", nothing sent', async () => {
    const r = await command('plant1/gw1/nope', 'setpoint', '70', { ...alice(), timeout: 1 });
    expect(r.out).toBe('plant1/gw1/nope: setpoint 70: no acknowledgement within 1 s: no agent seen (no DBIRTH or DDATA from plant1/gw1/nope: it is offline, or the name is wrong); nothing was sent');
    expect(r.code).toBe(COMMAND_EXIT.noAck);
  });

  it('a node that died: its NDEATH seen and no data since, exit 4 says the agent is offline, nothing sent', async () => {
    // gw2's node publishes nothing but its death certificate, again and again (as its Will would, once): whenever the
    // command's subscription starts, it sees one, and never any data.
    const gw2 = await mqtt.connectAsync(broker.url, { username: 'gw2', password: 'gw2-secret' });
    const death = Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: 0 }] }));
    const dying = setInterval(() => gw2.publish('spBv1.0/plant1/NDEATH/gw2', death, { qos: 1 }), 50);
    try {
      const r = await command('plant1/gw2/loop1', 'setpoint', '70', { ...alice(), timeout: 1 });
      expect(r.out).toBe('plant1/gw2/loop1: setpoint 70: no acknowledgement within 1 s: the agent is offline (its node\'s NDEATH arrived; no DBIRTH or DDATA since); nothing was sent');
      expect(r.code).toBe(COMMAND_EXIT.noAck);
    } finally {
      clearInterval(dying);
      await gw2.endAsync();
    }
  });

  it('the password from EDGELOOP_PASSWORD works as well as the file', async () => {
    const r = await command(LOOP, 'setpoint', '72', { username: 'alice' }, { EDGELOOP_PASSWORD: 'alice-secret' });
    expect(r.out).toMatch(/setpoint 72: accepted/);
    expect(r.code).toBe(0);
  });

  it('a wrong password: the log-in refused, said so, exit 1, nothing sent', async () => {
    const r = await command(LOOP, 'setpoint', '70', { username: 'alice', password: 'wrong-secret' });
    expect(r.err).toMatch(/^edgeloop command: the broker refused the log-in: bad username or password \(mqtt:\/\/127\.0\.0\.1:\d+, user 'alice'\); nothing was sent$/);
    expect(r.out).toBe('');
    expect(r.code).toBe(COMMAND_EXIT.error);
  });

  it('an observer log-in: the broker drops its DCMD, so no answer comes; exit 4 says the agent is online and names the role', async () => {
    const r = await command(LOOP, 'reset', undefined, { username: 'viewer', password: 'viewer-secret', timeout: 1 });
    expect(r.out).toMatch(/no acknowledgement within 1 s: the agent is online \(its data arrives\) but did not answer command op-[0-9a-f]+: the broker may have dropped it \(only the operator and coordinator roles may publish DCMD\)/);
    expect(r.code).toBe(COMMAND_EXIT.noAck);
  });

  it('an agent\'s log-in may not read another agent\'s data: exit 1, the refused subscription named', async () => {
    const r = await command(LOOP, 'reset', undefined, { username: 'gw2', password: 'gw2-secret' });
    expect(r.err).toMatch(/the broker refused the subscription to spBv1\.0\/plant1\/DBIRTH\/gw1\/loop1, .*NDEATH\/gw1 for user 'gw2': this log-in may not read plant1\/gw1\/loop1's births, deaths and data \(the operator role may\)/);
    expect(r.code).toBe(COMMAND_EXIT.error);
  });

  it('a broker that is not there: exit 1, unreachable, said so', async () => {
    const port = await freePort();
    const r = await command(LOOP, 'reset', undefined, { broker: `mqtt://127.0.0.1:${port}` });
    expect(r.err).toMatch(new RegExp(`cannot reach the broker at mqtt://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*nothing was sent`));
    expect(r.code).toBe(COMMAND_EXIT.error);
  });
});

describe('edgeloop command: bad arguments (exit 1, the argument named, nothing sent)', () => {
  const cases: [string, string, string | undefined, Partial<OperatorCommandOptions>, RegExp][] = [
    ['plant1/gw1', 'reset', undefined, {}, /<group\/node\/device>: expected the loop as group\/node\/device, each a non-empty MQTT topic level without '\/', '\+' or '#', got 'plant1\/gw1'/],
    ['plant1/+/loop1', 'reset', undefined, {}, /<group\/node\/device>: expected the loop as group\/node\/device/],
    [LOOP, 'jump', undefined, {}, /<action>: expected one of setpoint, reset, hold, release, mode, got 'jump'/],
    [LOOP, 'setpoint', undefined, {}, /value: expected the new setpoint after 'setpoint', a decimal number in the loop's units, got nothing/],
    [LOOP, 'setpoint', '0x50', {}, /value: expected the new setpoint .* got '0x50'/],
    [LOOP, 'setpoint', 'NaN', {}, /value: expected the new setpoint .* got 'NaN'/],
    [LOOP, 'mode', 'off', {}, /value: expected one of fallback, trip, none after 'mode', got 'off'/],
    [LOOP, 'reset', 'now', {}, /value: expected nothing after 'reset', got 'now'/],
    [LOOP, 'reset', undefined, { broker: 'localhost:1883' }, /--broker: expected a URL with mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/, got 'localhost:1883'/],
    [LOOP, 'reset', undefined, { timeout: 0 }, /--timeout: expected seconds in \[0\.1, 600\], got '0'/],
    [LOOP, 'reset', undefined, { username: 'alice', password: 'x', passwordFile: '/x' }, /--password: expected either --password or --password-file, not both/],
    [LOOP, 'reset', undefined, { password: 'alice-secret' }, /--username: expected the operator's username alongside a password, got nothing/],
    [LOOP, 'reset', undefined, { username: 'alice' }, /password: expected one for user 'alice': --password-file <file>, EDGELOOP_PASSWORD, or --password, got nothing/],
    [LOOP, 'reset', undefined, { username: 'alice', passwordFile: '/nonexistent/pw' }, /--password-file: expected a readable file holding the password, got '\/nonexistent\/pw \(ENOENT\)'/],
  ];
  it.each(cases)('%s %s %s', async (target, action, value, o, message) => {
    const r = await command(target, action, value, o);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/^edgeloop command: /);
    expect(r.out).toBe('');
    expect(r.code).toBe(COMMAND_EXIT.error);
  });

  it('an empty password file is named', async () => {
    writeFileSync(join(dir, 'empty.pw'), '\n');
    const r = await command(LOOP, 'reset', undefined, { username: 'alice', passwordFile: join(dir, 'empty.pw') });
    expect(r.err).toMatch(/--password-file: expected the password on its first line, got '.*empty\.pw \(empty\)'/);
    expect(r.code).toBe(1);
  });

  it('a setpoint is read as a decimal number (what the DCMD carries)', () => {
    expect(parseOperatorRequest(LOOP, 'setpoint', '-7.5e1').metric).toEqual({ name: 'command/setpoint', type: 'Double', value: -75 });
    expect(parseOperatorRequest(LOOP, 'mode', 'none').metric).toEqual({ name: 'command/mode', type: 'String', value: 'release' });
    expect(parseOperatorRequest(LOOP, 'hold', undefined).metric).toEqual({ name: 'command/hold', type: 'Boolean', value: true });
  });
});

/** The command through commander, as main.ts registers it (exitOverride: an error is a CommanderError with its exit code). */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command().name('edgeloop').exitOverride();
  const out: string[] = [];
  const err: string[] = [];
  program.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  let code = 0;
  registerCommand(program, (exit) => { code = exit; }).configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  const log = console.log;
  const error = console.error;
  console.log = (l: string) => out.push(l);
  console.error = (l: string) => err.push(l);
  try {
    await program.parseAsync(['node', 'edgeloop', 'command', ...args]);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.code === 'commander.helpDisplayed' ? 0 : e.exitCode;
  } finally {
    console.log = log;
    console.error = error;
  }
  return { code, out: out.join(''), err: err.join('') };
}

describe('edgeloop command through commander', () => {
  it('--help: the usage, the actions, the password sources and the exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: edgeloop command \[options\] <group\/node\/device> <action> \[value\]/);
    expect(r.out).toMatch(/--password-file <file>/);
    expect(r.out).toMatch(/visible in ps/);
    expect(r.out).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}3 .*\n {2}4 /);
  });

  it('runs the command and exits with its code; a bad --timeout exits 1 naming it', async () => {
    const ok = await cli([LOOP, 'setpoint', '74', '--broker', broker.url, '--username', 'alice', '--password-file', join(dir, 'alice.pw')]);
    expect(ok.out).toMatch(/setpoint 74: accepted/);
    expect(ok.code).toBe(0);
    const bad = await cli([LOOP, 'reset', '--broker', broker.url, '--timeout', 'soon']);
    expect(bad.err).toMatch(/--timeout must be a number of seconds in \[0\.1, 600\], got 'soon'/);
    expect(bad.code).toBe(1);
    const missing = await cli([LOOP, 'reset']);
    expect(missing.err).toMatch(/required option '--broker <url>' not specified/);
    expect(missing.code).toBe(1);
  });
});

describe.skipIf(MOSQUITTO_MISSING.length > 0)('edgeloop command against a real Mosquitto', () => {
  it('setpoint and hold through Mosquitto (anonymous, loopback): accepted, in the core', async () => {
    const mosq = await startBroker('mosquitto');
    const a = startAgent(mosq.url, 'gw5');
    try {
      const r = await command('plant1/gw5/loop1', 'setpoint', '66', { broker: mosq.url });
      expect(r.out).toMatch(/^plant1\/gw5\/loop1: setpoint 66: accepted; loop \w+, setpoint 66, held$/);
      expect(r.code).toBe(0);
      expect(a.core.setpoint).toBe(66);
      const h = await command('plant1/gw5/loop1', 'hold', undefined, { broker: mosq.url });
      expect(h.code).toBe(0);
    } finally {
      await a.stop();
      await mosq.close();
    }
  });
});
