// The coordinator on the embedded broker: it discovers agents from their
// births, tracks health from deaths and silence, and tracks each command to
// its acknowledgement or timeout. Loopback only, bounded in time.
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { freshCore } from '../support/core.js';
import { steadyBinding } from '../support/bindings.js';

let broker: EmbeddedBroker | null = null;
afterEach(async () => { await broker?.close(); broker = null; });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An agent on a steady sensor, in group plant1, stepped by hand (100 ms per step); `deps` are the agents it depends on. */
function makeAgent(url: string, node: string, device = 'loop', deps: string[] = []) {
  const core = freshCore();
  core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
  core.setSetpoint(50, 0);
  let now = 0;
  const agent = new Agent({ group: 'plant1', node, device, core, broker: url, clockUs: () => now, dependsOn: deps,
    binding: steadyBinding() });
  return { core, agent, step: () => { now += 100_000; agent.tick(); } };
}

describe('coordinator (embedded aedes)', () => {
  it('discovers agents, tracks a command to its ack, times out one nobody answers, and sees a death', async () => {
    broker = await startEmbeddedBroker();
    let clock = 0;
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord1', staleMs: 2000, commandTimeoutMs: 1000, clockMs: () => clock });
    await wait(150);
    const a = makeAgent(broker.url, 'gw1', 'loop1');
    const b = makeAgent(broker.url, 'gw2', 'loop2');
    const until = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !pred(); i++) { a.step(); b.step(); await wait(20); coord.cycle(); }
      expect(pred(), what).toBe(true);
    };
    await until(() => coord.agents.size === 2, 'both agents discovered');
    expect(coord.agents.get('plant1/gw1/loop1')).toMatchObject({ health: 'online', mode: 'NOMINAL', setpoint: 50 });

    const c = coord.command('plant1/gw1/loop1', { kind: 'setpoint', value: 65 });
    expect(c.state).toBe('sent');
    await until(() => c.state !== 'sent', 'the ack');
    expect(c).toMatchObject({ state: 'acked', detail: 'ok' });
    expect(a.core.setpoint).toBe(65);
    expect(() => coord.command('plant1/gw1/nope', { kind: 'reset' })).toThrow(/unknown agent 'plant1\/gw1\/nope'/);
    expect(() => coord.command('plant1/gw1/loop1', { kind: 'setpoint', value: Number.NaN })).toThrow(/setpoint must be a finite number/);
    // Parameters: checked like the agent checks them before anything is sent; the core checks the range.
    expect(() => coord.command('plant1/gw1/loop1', { kind: 'param', name: 'warp', value: 9 })).toThrow(/^command: command\/param: expected a known core parameter name/);
    expect(() => coord.command('plant1/gw1/loop1', { kind: 'mode', value: 'panic' as 'trip' })).toThrow(/mode must be one of fallback, trip, release, got "panic"/);
    const kp = coord.command('plant1/gw1/loop1', { kind: 'param', name: 'kp', value: 4 });
    const wild = coord.command('plant1/gw1/loop1', { kind: 'param', name: 'kp', value: 1e9 });
    await until(() => kp.state !== 'sent' && wild.state !== 'sent', 'both parameter acks');
    expect(kp.state).toBe('acked');
    expect(a.core.param('kp')).toBe(4);
    expect(wild).toMatchObject({ state: 'rejected' });
    expect(wild.detail).toMatch(/^rejected: .*kp/);

    // loop2 stops ticking (it is alive but silent): its command times out and it goes stale.
    const silent = coord.command('plant1/gw2/loop2', { kind: 'reset' });
    // What it sent before falling silent is taken in first (at the old time), then time passes.
    await wait(200);
    coord.cycle();
    clock += 2500;
    coord.cycle();
    expect(silent.state).toBe('timeout');
    expect(coord.agents.get('plant1/gw2/loop2')!.health).toBe('stale');

    // The edge node drops off: its NDEATH (the Will) marks its devices dead.
    a.agent.kill();
    for (let i = 0; i < 100 && coord.agents.get('plant1/gw1/loop1')!.health !== 'dead'; i++) { await wait(20); coord.cycle(); }
    expect(coord.agents.get('plant1/gw1/loop1')!.health).toBe('dead');
    expect(coord.agents.get('plant1/gw2/loop2')!.health).not.toBe('dead');
    await b.agent.stop();
    await coord.stop();
  });
});

describe('death certificates (embedded aedes)', () => {
  it('an NDEATH from an earlier session (another bdSeq) is ignored; the live session\'s marks the node dead', async () => {
    const mqtt = (await import('mqtt')).default;
    const { encodePayload } = await import('../../host/mqtt/codec.js');
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord4' });
    await wait(150);
    const a = makeAgent(broker.url, 'gw1', 'loop1');
    for (let i = 0; i < 100 && coord.agents.size < 1; i++) { a.step(); await wait(20); coord.cycle(); }
    const view = coord.agents.get('plant1/gw1/loop1')!;
    expect(view.bdSeq).toBe(0);
    const other = await mqtt.connectAsync(broker.url);
    const death = (bdSeq: number) => other.publishAsync('spBv1.0/plant1/NDEATH/gw1', Buffer.from(encodePayload({ timestamp: Date.now(),
      metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }] })), { qos: 1 });
    // a late Will of an earlier session: bdSeq 7, the live one is 0
    await death(7);
    for (let i = 0; i < 10; i++) { await wait(20); coord.cycle(); }
    expect(view.health).toBe('online');
    expect(coord.rejected.staleDeaths).toBe(1);
    await death(0);
    for (let i = 0; i < 50 && view.health !== 'dead'; i++) { await wait(20); coord.cycle(); }
    expect(view.health).toBe('dead');
    await other.endAsync();
    await a.agent.stop();
    await coord.stop();
  });
});

describe('what one node may make the coordinator hold (embedded aedes)', () => {
  it('a node that births 5,000 devices gets 64 of them tracked, the rest refused and counted; a string metric over 4,096 characters makes its message malformed; a normal agent beside it is tracked', async () => {
    const mqtt = (await import('mqtt')).default;
    const { encodePayload } = await import('../../host/mqtt/codec.js');
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord9' });
    await wait(150);
    const flood = await mqtt.connectAsync(broker.url);
    const birth = (device: string, cause = '') => flood.publishAsync(`spBv1.0/plant1/DBIRTH/gwX/${device}`, Buffer.from(encodePayload({ timestamp: Date.now(),
      metrics: [{ name: 'mode', type: 'String', value: 'NOMINAL' }, { name: 'cause', type: 'String', value: cause }] })), { qos: 0 });
    for (let i = 0; i < 5000; i++) void birth(`d${i}`);
    await birth('long', 'x'.repeat(5000));
    const a = makeAgent(broker.url, 'gw1', 'loop1');
    for (let i = 0; i < 300 && (coord.rejected.tooManyDevices + 64 < 5000 || !coord.agents.has('plant1/gw1/loop1')); i++) { a.step(); await wait(20); coord.cycle(); }
    const fromX = [...coord.agents.keys()].filter((k) => k.startsWith('plant1/gwX/'));
    expect(fromX).toHaveLength(64);
    expect(coord.rejected.tooManyDevices).toBe(5000 - 64);
    expect(coord.rejected.malformed).toBe(1);
    expect(coord.agents.has('plant1/gw1/loop1')).toBe(true);
    await flood.endAsync();
    await a.agent.stop();
    await coord.stop();
  });
});

describe('containment by scoped escalation (embedded aedes)', () => {
  it('a dead loop gets its direct dependent held, not the one after; the scope widens only when the disturbance spreads', async () => {
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord2' });
    await wait(150);
    // A chain: A -> B -> C (B's input is A's output, C's is B's).
    const mk = (node: string, deps: string[]) => makeAgent(broker!.url, node, 'loop', deps);
    const A = mk('a', []);
    const B = mk('b', ['plant1/a/loop']);
    const C = mk('c', ['plant1/b/loop']);
    const live = [A, B, C];
    const spin = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 150 && !pred(); i++) { for (const x of live) x.step(); await wait(20); coord.cycle(); }
      expect(pred(), what).toBe(true);
    };
    await spin(() => coord.agents.size === 3 && coord.agents.get('plant1/c/loop')!.dependsOn.length === 1, 'the chain discovered');

    // A dies: only B, its direct dependent, is held (and holds where it is).
    A.agent.kill();
    live.splice(live.indexOf(A), 1);
    await spin(() => coord.agents.get('plant1/b/loop')!.held && B.core.setpoint !== 50, 'B held');
    expect(B.core.setpoint).toBe(B.core.measurement);
    expect(coord.agents.get('plant1/c/loop')!.held).toBe(false);
    expect(coord.decisions).toHaveLength(1);
    expect(coord.decisions[0]).toMatchObject({ agent: 'plant1/b/loop', action: 'hold' });
    expect(coord.decisions[0].reason).toMatch(/plant1\/a\/loop left control \(dead\); plant1\/b\/loop depends on it/);

    // The disturbance spreads: B dies too -> the scope widens to C.
    B.agent.kill();
    live.splice(live.indexOf(B), 1);
    await spin(() => coord.agents.get('plant1/c/loop')!.held, 'C held');
    expect(coord.decisions[1].reason).toMatch(/disturbance spread to plant1\/b\/loop \(dead\): widening the scope/);
    await C.agent.stop();
    await coord.stop();
  });
});

describe('containment is level-triggered (embedded aedes)', () => {
  it('a second episode holds the dependent again after an operator release; an agent that stops cleanly is seen to go', async () => {
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord5' });
    await wait(150);
    const mk = (node: string, deps: string[]) => makeAgent(broker!.url, node, 'loop', deps);
    let A = mk('a', []);
    const B = mk('b', ['plant1/a/loop']);
    const spin = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 150 && !pred(); i++) { A.step(); B.step(); await wait(20); coord.cycle(); }
      expect(pred(), what).toBe(true);
    };
    const b = () => coord.agents.get('plant1/b/loop')!;
    await spin(() => coord.agents.size === 2 && b().dependsOn.length === 1, 'both discovered');
    // Episode 1: A stops cleanly (it publishes its own NDEATH): seen dead, B held.
    await A.agent.stop();
    await spin(() => b().held && b().reportsHeld, 'B held (and says so)');
    expect(coord.agents.get('plant1/a/loop')!.health).toBe('dead');
    // A comes back and is NOMINAL: the episode ends. The operator releases B.
    A = mk('a', []);
    await spin(() => coord.agents.get('plant1/a/loop')!.health === 'online', 'A back');
    const rel = coord.command('plant1/b/loop', { kind: 'release' });
    await spin(() => rel.state === 'acked' && !b().reportsHeld, 'B released');
    // Episode 2: A dies again: B is held again.
    A.agent.kill();
    await spin(() => b().held && b().reportsHeld, 'B held again');
    expect(coord.decisions.map((d) => d.agent)).toEqual(['plant1/b/loop', 'plant1/b/loop']);
    await B.agent.stop();
    await coord.stop();
  });
});

describe('containment by fallback is level-triggered too (embedded aedes)', () => {
  it('a dependent that restarts without its demand is switched to its fallback again; its release is command/mode release', async () => {
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord6', contain: 'fallback' });
    await wait(150);
    const A = makeAgent(broker.url, 'a');
    let B = makeAgent(broker.url, 'b', 'loop', ['plant1/a/loop']);
    const spin = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 150 && !pred(); i++) { A.step(); B.step(); await wait(20); coord.cycle(); }
      expect(pred(), what).toBe(true);
    };
    const b = () => coord.agents.get('plant1/b/loop')!;
    await spin(() => coord.agents.size === 2 && b().dependsOn.length === 1, 'both discovered');
    // A is tripped by its operator -> SAFE_STOP -> B is switched to its fallback (its guard reports the demand).
    coord.command('plant1/a/loop', { kind: 'mode', value: 'trip' });
    await spin(() => b().guard.includes('demanded') && B.core.mode === 'FALLBACK', 'B in its fallback');
    // B restarts (a new process, a fresh core: no demand) -> the coordinator sees it, and demands again.
    await B.agent.stop();
    B = makeAgent(broker.url, 'b', 'loop', ['plant1/a/loop']);
    await spin(() => coord.decisions.length === 2 && B.core.mode === 'FALLBACK', 'B switched to its fallback again');
    expect(coord.decisions.map((d) => d.action)).toEqual(['fallback', 'fallback']);
    expect(coord.decisions[1].reason).toMatch(/\(again: plant1\/b\/loop reports no fallback demand in force\)$/);
    // The operator's release ends it with command/mode release; no demand is sent again in this episode.
    const rel = coord.command('plant1/b/loop', { kind: 'release' });
    expect(rel.kind).toBe('mode');
    await spin(() => rel.state === 'acked' && !b().guard.includes('demanded'), 'B released');
    for (let i = 0; i < 20; i++) { A.step(); B.step(); await wait(20); coord.cycle(); }
    expect(coord.decisions).toHaveLength(2);
    await A.agent.stop();
    await B.agent.stop();
    await coord.stop();
  });
});

describe('Prometheus /metrics', () => {
  it('serves the fleet as the coordinator sees it', async () => {
    const { startMetricsServer } = await import('../../host/telemetry/metrics.js');
    broker = await startEmbeddedBroker();
    const coord = new Coordinator({ broker: broker.url, hostId: 'coord3' });
    await wait(150);
    const a = makeAgent(broker.url, 'gw1', 'loop1');
    for (let i = 0; i < 100 && coord.agents.size < 1; i++) { a.step(); await wait(20); coord.cycle(); }
    const m = await startMetricsServer(coord);
    const text = await (await fetch(m.url)).text();
    expect(text).toMatch(/^edgeloop_agents\{health="online"\} 1$/m);
    expect(text).toMatch(/^edgeloop_agents_by_mode\{mode="NOMINAL"\} 1$/m);
    expect(text).toMatch(/^edgeloop_messages_rejected\{reason="malformed"\} 0$/m);
    expect(text).toMatch(/^edgeloop_agents_tripped\{state="tripped"\} 0$/m);
    expect(text).toMatch(/^edgeloop_agents_tripped\{state="trip_failed"\} 0$/m);
    expect((await fetch(m.url.replace('/metrics', '/x'))).status).toBe(404);
    await m.close();
    await a.agent.stop();
    await coord.stop();
  });
});
