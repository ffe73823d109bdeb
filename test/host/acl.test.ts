// Broker security: who may publish and subscribe to what. The ACL is a pure
// function, tested here over every Sparkplug message type, scope and role,
// and as a property over random topics; then on a real aedes with real
// mqtt.js clients on loopback, and with the real Agent and Coordinator
// logging in.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { authorize, DENY_REASONS, loadUsersFile, parseUsers, UsersError, type Principal } from '../../host/mqtt/acl.js';
import { startEmbeddedBroker, type EmbeddedBroker, type User } from '../../host/mqtt/broker.js';
import { encodePayload } from '../../host/mqtt/codec.js';
import { DEVICE_MESSAGES, NODE_MESSAGES } from '../../host/mqtt/topics.js';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { deployCommand } from '../../host/cli/deploy.js';
import { generateFleetKey, saveFleetKey, signModule, writeSignatureFile } from '../../host/deploy/signing.js';
import { coreBytes, freshCore } from '../support/core.js';
import { steadyBinding } from '../support/bindings.js';

const gw1: Principal = { role: 'agent', username: 'gw1', group: 'plant1', node: 'gw1' };
const coord: Principal = { role: 'coordinator', username: 'coord' };
const dash: Principal = { role: 'observer', username: 'dash' };

const pub = (p: Principal | null, t: string) => authorize(p, 'publish', t);
const sub = (p: Principal | null, t: string) => authorize(p, 'subscribe', t);
const denied = (reason: string) => ({ ok: false, reason });
const OK = { ok: true };

describe('authorize (pure)', () => {
  // Every message type, in the agent's own scope, another node's and another group's.
  const scopes = [['own', 'plant1', 'gw1'], ['other node', 'plant1', 'gw2'], ['other group', 'plant2', 'gw1']] as const;
  const topicOf = (type: string, group: string, node: string, device = 'loop1') =>
    (NODE_MESSAGES as readonly string[]).includes(type) ? `spBv1.0/${group}/${type}/${node}` : `spBv1.0/${group}/${type}/${node}/${device}`;

  it('an agent publishes its own births, deaths and data, and nothing else', () => {
    for (const type of [...NODE_MESSAGES, ...DEVICE_MESSAGES]) {
      for (const [scope, group, node] of scopes) {
        const t = topicOf(type, group, node);
        const command = type === 'NCMD' || type === 'DCMD';
        const want = command ? denied('coordinator-only') : scope === 'own' ? OK : denied('foreign-node');
        expect(pub(gw1, t), `${scope} ${t}`).toEqual(want);
        // The coordinator publishes anything; the observer nothing.
        expect(pub(coord, t)).toEqual(OK);
        expect(pub(dash, t)).toEqual(denied('read-only'));
      }
    }
    expect(pub(gw1, 'spBv1.0/STATE/coord1')).toEqual(denied('coordinator-only'));
    expect(pub(coord, 'spBv1.0/STATE/coord1')).toEqual(OK);
    expect(pub(gw1, 'spBv1.0/plant1/DDATA/gw1/any-device-7')).toEqual(OK);
  });

  it('an agent may not publish what is not Sparkplug B: wrong levels, unknown types, other namespaces', () => {
    for (const t of ['spBv1.0/plant1/NDATA/gw1/loop1', 'spBv1.0/plant1/DDATA/gw1', 'spBv1.0/plant1/DDATA/gw1/loop1/x', 'spBv1.0/plant1/XDATA/gw1',
      'spBv1.0/plant1/ndata/gw1', 'spBv1.0//NDATA/gw1', 'spBv1.0/plant1/NDATA/', 'spBv1.0/plant1', 'spBv1.0', 'spAv1.0/plant1/NDATA/gw1',
      'plant1/NDATA/gw1', '/spBv1.0/plant1/NDATA/gw1', 'spBv1.0/STATE/coord/extra']) {
      expect(pub(gw1, t), t).toEqual(denied('not-sparkplug'));
    }
  });

  it('nobody publishes to a wildcard, empty or $ topic', () => {
    for (const p of [gw1, coord, dash]) {
      for (const t of ['spBv1.0/plant1/NDATA/+', 'spBv1.0/plant1/DDATA/gw1/#', '#', '+', 'spBv1.0/+/NDATA/gw1', '']) {
        expect(pub(p, t), `${p.role} ${t}`).toEqual(denied('wildcard-publish'));
      }
      expect(pub(p, '$SYS/broker/x')).toEqual(denied('reserved-topic'));
    }
  });

  it('an agent subscribes to its own commands and host STATE only', () => {
    for (const t of ['spBv1.0/plant1/NCMD/gw1', 'spBv1.0/plant1/DCMD/gw1/+', 'spBv1.0/plant1/DCMD/gw1/loop1', 'spBv1.0/STATE/+', 'spBv1.0/STATE/coord1']) {
      expect(sub(gw1, t), t).toEqual(OK);
    }
    const refused: [string, string][] = [
      ['spBv1.0/#', 'wildcard-subscribe'], ['#', 'wildcard-subscribe'], ['+/#', 'wildcard-subscribe'],
      ['spBv1.0/plant1/DCMD/#', 'wildcard-subscribe'], ['spBv1.0/plant1/DCMD/gw1/#', 'wildcard-subscribe'],
      ['spBv1.0/plant1/+/gw1', 'wildcard-subscribe'], ['spBv1.0/+/NCMD/gw1', 'wildcard-subscribe'], ['spBv1.0/plant1/NCMD/+', 'wildcard-subscribe'],
      ['spBv1.0/plant1/DCMD/+/loop1', 'wildcard-subscribe'], ['spBv1.0/plant1/DCMD/gw2/+', 'wildcard-subscribe'], ['spBv1.0/STATE/#', 'wildcard-subscribe'],
      ['spBv1.0/plant1/DCMD/gw2/loop1', 'foreign-node'], ['spBv1.0/plant1/NCMD/gw2', 'foreign-node'], ['spBv1.0/plant2/NCMD/gw1', 'foreign-node'],
      ['spBv1.0/plant1/DDATA/gw2/loop1', 'foreign-node'],
      ['spBv1.0/plant1/DDATA/gw1/loop1', 'not-a-command'], ['spBv1.0/plant1/NBIRTH/gw1', 'not-a-command'],
      ['spBv1.0/plant1/XCMD/gw1', 'not-sparkplug'], ['spBv1.0/STATE/a/b', 'not-sparkplug'], ['other/topic', 'not-sparkplug'],
      ['$SYS/#', 'reserved-topic'],
    ];
    for (const [t, reason] of refused) expect(sub(gw1, t), t).toEqual(denied(reason));
    // Every message type in every scope: only the own NCMD and DCMD pass.
    for (const type of [...NODE_MESSAGES, ...DEVICE_MESSAGES]) {
      for (const [scope, group, node] of scopes) {
        const ok = scope === 'own' && (type === 'NCMD' || type === 'DCMD');
        expect(sub(gw1, topicOf(type, group, node)).ok, `${scope} ${type}`).toBe(ok);
      }
    }
  });

  it('an observer reads everything under spBv1.0/ and nothing else; a coordinator reads anything', () => {
    for (const t of ['spBv1.0/#', 'spBv1.0/+/DDATA/#', 'spBv1.0/plant1/DCMD/gw1/loop1', 'spBv1.0/STATE/+']) expect(sub(dash, t), t).toEqual(OK);
    for (const t of ['#', '+/#', 'spBv1.0', 'other/#']) expect(sub(dash, t), t).toEqual(denied('not-sparkplug'));
    expect(sub(dash, '$SYS/#')).toEqual(denied('reserved-topic'));
    for (const t of ['#', 'spBv1.0/#', '$SYS/#', 'anything']) expect(sub(coord, t), t).toEqual(OK);
  });

  it('without a principal nothing is allowed', () => {
    expect(pub(null, 'spBv1.0/plant1/NDATA/gw1')).toEqual(denied('unauthenticated'));
    expect(sub(null, 'spBv1.0/#')).toEqual(denied('unauthenticated'));
  });

  it('as a property over random topics: wildcards never publish, an agent only ever touches its own scope', () => {
    const level = fc.oneof(
      fc.constantFrom('spBv1.0', 'STATE', 'plant1', 'plant2', 'gw1', 'gw2', 'loop1', '+', '#', '', '$SYS', ...NODE_MESSAGES, ...DEVICE_MESSAGES),
      fc.string({ maxLength: 4 }),
    );
    const topic = fc.array(level, { minLength: 0, maxLength: 7 }).map((l) => l.join('/'));
    fc.assert(fc.property(topic, fc.constantFrom(gw1, coord, dash), (t, p) => {
      const l = t.split('/');
      const wild = t.includes('+') || t.includes('#');
      const v = pub(p, t);
      if (wild || t === '') expect(v).toEqual(denied('wildcard-publish'));
      if (p.role === 'observer' && v.ok) throw new Error('an observer published');
      if (p.role === 'coordinator') expect(v.ok).toBe(!wild && t !== '' && !t.startsWith('$'));
      if (p.role === 'agent' && v.ok) {
        // Exactly the six own-scope shapes.
        expect(l[0] === 'spBv1.0' && l[1] === 'plant1' && l[3] === 'gw1').toBe(true);
        expect(l.length === 4 ? ['NBIRTH', 'NDEATH', 'NDATA'] : ['DBIRTH', 'DDEATH', 'DDATA']).toContain(l[2]);
        expect(l.length === 4 || (l.length === 5 && l[4] !== '')).toBe(true);
      }
      const s = sub(p, t);
      if (p.role === 'agent' && s.ok) {
        const own = l[0] === 'spBv1.0' && l[1] === 'plant1' && l[3] === 'gw1' && ((l.length === 4 && l[2] === 'NCMD') || (l.length === 5 && l[2] === 'DCMD' && l[4] !== '' && l[4] !== '#'));
        const state = l.length === 3 && l[0] === 'spBv1.0' && l[1] === 'STATE' && l[2] !== '' && l[2] !== '#';
        expect(own || state, t).toBe(true);
      }
      if (p.role === 'observer' && s.ok) expect(l[0]).toBe('spBv1.0');
      if (!s.ok) expect(DENY_REASONS).toContain(s.reason);
    }), { seed: 42, numRuns: 20_000 });
  });
});

describe('users (validation, file)', () => {
  const good: User[] = [
    { username: 'gw1', password: 'gw1-secret', role: 'agent', group: 'plant1', node: 'gw1' },
    { username: 'coord', password: 'coord-secret', role: 'coordinator' },
    { username: 'dash', password: 'dash-secret', role: 'observer' },
  ];

  it('loads a users file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-users-'));
    const path = join(dir, 'users.json');
    writeFileSync(path, JSON.stringify({ users: good }));
    expect(loadUsersFile(path)).toEqual(good);
  });

  it('names the field on bad input, and never echoes a password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-users-'));
    const file = (content: string) => { const p = join(dir, `u${Math.random()}.json`); writeFileSync(p, content); return p; };
    const bad = (users: unknown) => file(JSON.stringify({ users }));
    expect(() => loadUsersFile(join(dir, 'missing.json'))).toThrow(/\(file\): cannot read/);
    expect(() => loadUsersFile(file('{ users: '))).toThrow(/\(root\): expected JSON/);
    expect(() => loadUsersFile(file('[]'))).toThrow(/expected an object \{ "users"/);
    expect(() => loadUsersFile(bad([]))).toThrow(/users: expected at least one user/);
    expect(() => loadUsersFile(bad([{ ...good[1], role: 'admin' }]))).toThrow(/users\[0\]\.role: expected one of 'agent', 'coordinator', 'observer', 'operator' \(received "admin"\)/);
    expect(() => loadUsersFile(bad([good[1], { username: 'gw2', password: 'long-enough', role: 'agent', group: 'plant1' }])))
      .toThrow(/users\[1\]\.node: expected an edge_node_id: an agent is bound/);
    expect(() => loadUsersFile(bad([{ ...good[0], group: 'plant/1' }]))).toThrow(/users\[0\]\.group: expected a group_id: a non-empty MQTT topic level without '\/', '\+' or '#' \(received "plant\/1"\)/);
    expect(() => loadUsersFile(bad([{ ...good[2], node: 'gw1' }]))).toThrow(/users\[0\]\.node: only an agent is bound to a group and node/);
    expect(() => loadUsersFile(bad([good[0], { ...good[1], username: 'gw1' }]))).toThrow(/users\[1\]\.username: expected a unique username \(received "gw1"\)/);
    expect(() => loadUsersFile(bad([{ ...good[1], extra: 1 }]))).toThrow(/users\[0\]: Unrecognized key/);
    let err: unknown;
    try { loadUsersFile(bad([{ ...good[1], password: 'short7!' }])); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UsersError);
    expect((err as Error).message).toMatch(/users\[0\]\.password: expected at least 8 characters/);
    expect((err as Error).message).not.toContain('short7!');
    expect(() => parseUsers([{ username: 'x', role: 'observer' }])).toThrow(/users\[0\]\.password: expected a string/);
  });

  it('the broker validates users the same way and still refuses an open non-loopback listener', async () => {
    await expect(startEmbeddedBroker({ host: '0.0.0.0' })).rejects.toThrow(/requires credentials/);
    await expect(startEmbeddedBroker({ users: [{ username: 'a', password: 'x', role: 'observer' }] })).rejects.toThrow(/password: expected at least 8/);
  });
});

// ---------------------------------------------------------------------------
// On a real broker.

const USERS: User[] = [
  { username: 'gw1', password: 'gw1-secret', role: 'agent', group: 'plant1', node: 'gw1' },
  { username: 'gw2', password: 'gw2-secret', role: 'agent', group: 'plant1', node: 'gw2' },
  { username: 'coord', password: 'coord-secret', role: 'coordinator' },
  { username: 'dash', password: 'dash-secret', role: 'observer' },
];

let broker: EmbeddedBroker | null = null;
const clients: MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
  await broker?.close();
  broker = null;
});
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (pred: () => boolean, what: string, step?: () => void) => {
  for (let i = 0; i < 150 && !pred(); i++) { step?.(); await wait(20); }
  expect(pred(), what).toBe(true);
};
const payload = (metrics: { name: string; type: 'Double' | 'String' | 'Boolean'; value: number | string | boolean }[] = []) =>
  Buffer.from(encodePayload({ timestamp: Date.now(), metrics }));

async function login(username?: string, password?: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker!.url, { username, password, reconnectPeriod: 0, connectTimeout: 3000, ...extra });
  clients.push(c);
  return c;
}

/** A client that records what it receives. */
async function listener(username: string | undefined, password: string | undefined, filter: string) {
  const c = await login(username, password);
  const got: string[] = [];
  c.on('message', (topic) => got.push(topic));
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  return { c, got, granted };
}

describe('on a real aedes with ACLs (mqtt.js clients, loopback)', () => {
  it('refuses a wrong password, an unknown user and an anonymous client', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    expect(broker.secured).toBe(true);
    await expect(login('gw1', 'wrong-password')).rejects.toThrow(/Bad username or password/);
    await expect(login('nobody', 'gw1-secret')).rejects.toThrow(/Bad username or password/);
    await expect(login()).rejects.toThrow(/Bad username or password/);
    await expect(login('gw1')).rejects.toThrow(/Bad username or password/);
    expect(broker.counters.authFailed).toBe(4);
    const ok = await login('gw1', 'gw1-secret');
    expect(ok.connected).toBe(true);
  });

  it('agent gw1 cannot publish as gw2, command anybody or read gw2\'s commands; the coordinator commands; refused publishes are dropped and counted', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const spy = await listener('dash', 'dash-secret', 'spBv1.0/#');
    expect(spy.granted[0].qos).toBe(1);
    const a = await login('gw1', 'gw1-secret');
    const b = await listener('gw2', 'gw2-secret', 'spBv1.0/plant1/DCMD/gw2/+');
    expect(b.granted[0].qos).toBe(1);

    // gw1 tries to read gw2's commands, and everything: refused (granted 128).
    // (mqtt.js rejects a SUBACK with any 128 in it, the packet attached.)
    const refusal = await a.subscribeAsync(['spBv1.0/plant1/DCMD/gw2/+', 'spBv1.0/#', 'spBv1.0/plant1/NCMD/gw1'], { qos: 1 }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as { packet: { granted: number[] } }).packet.granted).toEqual([128, 128, 1]);
    const aGot: string[] = [];
    a.on('message', (t) => aGot.push(t));

    // gw1 publishes as gw2, commands gw2, declares a host STATE, retains a fake birth: each acknowledged, dropped.
    const forged = ['spBv1.0/plant1/NDATA/gw2', 'spBv1.0/plant1/DDATA/gw2/loop2', 'spBv1.0/plant1/DCMD/gw2/loop2', 'spBv1.0/plant1/NCMD/gw2', 'spBv1.0/STATE/coord'];
    for (const t of forged) await a.publishAsync(t, payload(), { qos: 1 });
    await a.publishAsync('spBv1.0/plant1/NBIRTH/gw2', payload(), { qos: 1, retain: true });
    // Its own data goes through.
    await a.publishAsync('spBv1.0/plant1/DDATA/gw1/loop1', payload([{ name: 'measurement', type: 'Double', value: 1 }]), { qos: 1 });
    await until(() => spy.got.includes('spBv1.0/plant1/DDATA/gw1/loop1'), 'own data delivered');
    // The observer cannot publish either.
    await spy.c.publishAsync('spBv1.0/plant1/DDATA/gw1/loop1', payload(), { qos: 1 });

    // The coordinator commands gw2: gw2 gets it, gw1 does not.
    const c = await login('coord', 'coord-secret');
    await c.publishAsync('spBv1.0/plant1/DCMD/gw2/loop2', payload([{ name: 'command/id', type: 'String', value: 'c-1' }, { name: 'command/reset', type: 'Boolean', value: true }]), { qos: 1 });
    await until(() => b.got.includes('spBv1.0/plant1/DCMD/gw2/loop2'), 'the coordinator\'s command delivered');
    await wait(100);
    expect(b.got).toEqual(['spBv1.0/plant1/DCMD/gw2/loop2']);
    expect(aGot).toEqual([]);
    expect(spy.got.filter((t) => forged.includes(t) && t !== 'spBv1.0/plant1/DCMD/gw2/loop2')).toEqual([]);
    expect(spy.got.filter((t) => t === 'spBv1.0/plant1/DCMD/gw2/loop2')).toHaveLength(1); // the coordinator's, not gw1's
    expect(spy.got.filter((t) => t === 'spBv1.0/plant1/DDATA/gw1/loop1')).toHaveLength(1); // not the observer's copy

    // Nothing was retained for a newcomer.
    const late = await listener('dash', 'dash-secret', 'spBv1.0/plant1/NBIRTH/#');
    await wait(150);
    expect(late.got).toEqual([]);

    // Still connected: refused publishes are dropped, not punished with a disconnect.
    expect(a.connected).toBe(true);
    expect(broker.counters.denied).toEqual({
      publish: 7, subscribe: 2,
      byReason: expect.objectContaining({ 'foreign-node': 3, 'coordinator-only': 3, 'read-only': 1, 'wildcard-subscribe': 2 }),
    });
  });

  it('a Will is checked when it fires: an agent\'s own NDEATH goes out, a forged one does not', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const spy = await listener('dash', 'dash-secret', 'spBv1.0/+/NDEATH/+');
    const will = (node: string) => ({ topic: `spBv1.0/plant1/NDEATH/${node}`, payload: payload(), qos: 1 as const, retain: false });
    const honest = await login('gw1', 'gw1-secret', { will: will('gw1') });
    const forger = await login('gw1', 'gw1-secret', { will: will('gw2') });
    forger.stream.destroy();
    honest.stream.destroy();
    await until(() => spy.got.length >= 1, 'the honest NDEATH');
    await wait(200);
    expect(spy.got).toEqual(['spBv1.0/plant1/NDEATH/gw1']);
    expect(broker.counters.denied.byReason['foreign-node']).toBe(1);
  });

  it('one user cannot take over another user\'s client id (which would disconnect it)', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const c = await login('coord', 'coord-secret', { clientId: 'coord-main' });
    await expect(login('gw1', 'gw1-secret', { clientId: 'coord-main' })).rejects.toThrow(/Identifier rejected/);
    await wait(100);
    expect(c.connected).toBe(true);
    // The same user may reconnect under its id (a restart after a network drop).
    const again = await login('coord', 'coord-secret', { clientId: 'coord-main' });
    expect(again.connected).toBe(true);
  });

  it('an open loopback broker (no users) stays open, as before', async () => {
    broker = await startEmbeddedBroker();
    expect(broker.secured).toBe(false);
    const spy = await listener(undefined, undefined, 'spBv1.0/#');
    const x = await login();
    await x.publishAsync('spBv1.0/plant1/DCMD/gw2/loop2', payload(), { qos: 1 });
    await until(() => spy.got.length === 1, 'delivered');
    expect(broker.counters).toEqual({ denied: expect.objectContaining({ publish: 0, subscribe: 0 }), authFailed: 0, oversized: 0 });
  });
});

describe('the real Agent and Coordinator under ACLs', () => {
  it('log in (credentials in the URL or as options), discover, command and acknowledge, with no refusals', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const port = broker.port;
    const coordinator = new Coordinator({ broker: broker.url, username: 'coord', password: 'coord-secret', hostId: 'coord1' });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(50, 0);
    let now = 0;
    // Credentials in the URL (mqtt.js reads user:password from it); waits for the coordinator's STATE (a subscription the ACL allows).
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, broker: `mqtt://gw1:gw1-secret@127.0.0.1:${port}`,
      clockUs: () => now, primaryHost: 'coord1', binding: steadyBinding() });
    const spy = await listener('dash', 'dash-secret', 'spBv1.0/#');
    const step = () => { now += 100_000; agent.tick(); coordinator.cycle(); };
    await until(() => coordinator.agents.get('plant1/gw1/loop1')?.health === 'online', 'the agent discovered', step);

    const c = coordinator.command('plant1/gw1/loop1', { kind: 'setpoint', value: 65 });
    await until(() => c.state !== 'sent', 'the ack', step);
    expect(c).toMatchObject({ state: 'acked', detail: 'ok' });
    expect(core.setpoint).toBe(65);
    expect(agent.stats.commandsRejected).toBe(0);

    // The agent's Will (its own NDEATH) passes the ACL.
    agent.kill();
    await until(() => coordinator.agents.get('plant1/gw1/loop1')?.health === 'dead', 'NDEATH seen', () => coordinator.cycle());
    expect(spy.got).toEqual(expect.arrayContaining(['spBv1.0/STATE/coord1', 'spBv1.0/plant1/NBIRTH/gw1', 'spBv1.0/plant1/DBIRTH/gw1/loop1',
      'spBv1.0/plant1/DDATA/gw1/loop1', 'spBv1.0/plant1/DCMD/gw1/loop1', 'spBv1.0/plant1/NDEATH/gw1']));
    expect(broker.counters.denied).toMatchObject({ publish: 0, subscribe: 0 });
    expect(broker.counters.authFailed).toBe(0);
    expect(coordinator.rejected).toEqual({ malformed: 0, dropped: 0, staleDeaths: 0, tooManyDevices: 0, tooManyNodes: 0, unborn: 0, skippedMetrics: 0 });
    await coordinator.stop();
  });

  it('a wrong password is an error a person sees: the agent names it once (and loops on, spooling), the coordinator names it, deploy says it instead of "no agent seen"; the right one connects and names nothing', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
    let now = 0;
    const agentSaid: string[] = [];
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, broker: broker.url, username: 'gw1', password: 'not-the-secret',
      clockUs: () => now, binding: steadyBinding(), onLoginRefused: (why) => agentSaid.push(why) });
    const coordSaid: string[] = [];
    const coordinator = new Coordinator({ broker: broker.url, username: 'coord', password: 'wrong', hostId: 'coord1', onLoginRefused: (why) => coordSaid.push(why) });
    // Refused (mqtt.js would not try again; the agent and the coordinator do, every 5 s), and named once.
    await until(() => agent.stats.loginRefused >= 1 && coordSaid.length === 1, 'refused', () => { now += 100_000; agent.tick(); });
    expect(agentSaid).toEqual(['the broker refused the log-in: bad username or password']);
    expect(coordSaid).toEqual(['the broker refused the log-in: bad username or password']);
    expect(agent.loginRefusal).toMatch(/bad username or password/);
    expect(agent.stats.ticks).toBeGreaterThan(0);
    expect(agent.spoolLength).toBeGreaterThan(0);
    await agent.stop();
    await coordinator.stop();
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-refused-'));
    const fleet = generateFleetKey();
    saveFleetKey(fleet, { privatePath: join(dir, 'fleet.key'), publicPath: join(dir, 'fleet.pub') });
    const mod = join(dir, 'core.wasm');
    writeFileSync(mod, coreBytes());
    writeSignatureFile(mod, signModule(coreBytes(), fleet.privateKeyPem));
    const lines: string[] = [];
    const code = await deployCommand(mod, { broker: broker.url, group: 'plant1', key: join(dir, 'fleet.pub'), hostId: 'deployer', username: 'coord', password: 'wrong',
      discover: 10, canary: 1, soak: 1, staleMs: 5000, timeout: 30 } as never, (l) => lines.push(l));
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatch(/^deploy: the broker refused the log-in: bad username or password \(mqtt:.*, user 'coord'\); nothing deployed$/);
    // Contrapositive: the right password connects and nothing is named.
    const good: string[] = [];
    const ok = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core: freshCore(), broker: broker.url, username: 'gw1', password: 'gw1-secret',
      clockUs: () => now, binding: steadyBinding(), onLoginRefused: (why) => good.push(why) });
    await until(() => ok.stats.published > 0, 'connected and publishing', () => { now += 100_000; ok.tick(); });
    expect(good).toEqual([]);
    expect(ok.loginRefusal).toBeNull();
    await ok.stop();
  });

  it('an agent logged in as another node gets nothing through: its births are dropped and its command subscriptions refused', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const coordinator = new Coordinator({ broker: broker.url, username: 'coord', password: 'coord-secret', hostId: 'coord1' });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
    let now = 0;
    // Logged in as gw2 but claiming to be gw1.
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, broker: broker.url, username: 'gw2', password: 'gw2-secret',
      clockUs: () => now, binding: steadyBinding() });
    for (let i = 0; i < 25; i++) { now += 100_000; agent.tick(); await wait(20); coordinator.cycle(); }
    expect(coordinator.agents.size).toBe(0);
    expect(broker.counters.denied.subscribe).toBe(2); // DCMD/gw1/loop1 and NCMD/gw1
    expect(broker.counters.denied.publish).toBeGreaterThanOrEqual(2 + 20); // NBIRTH, DBIRTH, then every DDATA
    expect(broker.counters.denied.byReason['foreign-node']).toBe(broker.counters.denied.publish + 2);
    await agent.stop();
    await coordinator.stop();
  });
});
