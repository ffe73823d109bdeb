// The core's guard through the host: the trip output driven through the
// binding, what agents report of it over Sparkplug B (and what the
// coordinator and the telemetry store make of it), the operator's mode and
// reset commands, and containment that switches a dependent to its
// fallback. Each story on the embedded aedes and on a real Mosquitto,
// loopback only; time is the agents' simulated clock, stepped by hand
// (100 ms a step), never the wall clock.
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator, type ContainAction } from '../../host/coordinator/coordinator.js';
import type { IoBinding } from '../../host/io/binding.js';
import type { CoreEvent } from '../../host/runtime/core.js';
import { Recorder } from '../../host/telemetry/recorder.js';
import { TelemetryStore } from '../../host/telemetry/store.js';
import { SimDevice } from '../../firmware-sim/device.js';
import type { FaultSpec } from '../../firmware-sim/types.js';
import { freshCore } from '../support/core.js';
import { BROKER_KINDS, startBroker, wait, type TestBroker } from '../support/brokers.js';

const tahu = (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): { decodePayload(b: Uint8Array): { metrics: TahuMetric[] } } }).get('spBv1.0');
interface TahuMetric { name: string; type: string; value: unknown; properties?: Record<string, { type: string; value: unknown }> }

const STEP_US = 100_000;
const REVERSED_AT_S = 30;
const REVERSED: FaultSpec = { kind: 'actuator.reversed', onsetS: REVERSED_AT_S, durationS: null, magnitude: 0 };
/** The heater's contactor welded shut from the start: a trip is demanded and does not act. */
const WELDED: FaultSpec = { kind: 'trip.fail', onsetS: 0, durationS: null, magnitude: 0 };

let broker: TestBroker | null = null;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  await broker?.close();
  broker = null;
});

/** A thermal chamber zone (firmware-sim device, the plant's tuned core) whose binding records the order it is driven in. */
function zone(url: string | null, node: string, o: { faults?: FaultSpec[]; dependsOn?: string[]; primaryHost?: string } = {}) {
  const device = new SimDevice({ plant: 'thermal', seed: node.length * 7 + node.charCodeAt(node.length - 1), faults: o.faults ?? [] });
  const calls: string[] = [];
  const events: CoreEvent[] = [];
  const binding: IoBinding = {
    read: (t) => device.read(t),
    write: (u, t) => { calls.push('write'); device.write(u, t); },
    writeTrip: (tripped, t) => { calls.push(tripped ? 'trip' : 'run'); device.writeTrip(tripped, t); },
  };
  const core = freshCore();
  core.configure(device.config);
  core.setSetpoint(device.spec.setpoint, 0);
  let now = 0;
  // Without a broker (url null) the agent runs its loop all the same: the network is never in the control path.
  const agent = new Agent({ group: 'plant1', node, device: 'loop', core, binding, broker: url ?? 'mqtt://127.0.0.1:9', clockUs: () => now,
    units: device.spec.units, dependsOn: o.dependsOn, primaryHost: o.primaryHost, onCoreEvent: (e) => { events.push(e); } });
  cleanup.push(() => agent.stop());
  let hottest = -Infinity;
  return {
    device, core, agent, calls, events, key: `plant1/${node}/loop`,
    get nowS() { return now / 1e6; },
    get hottest() { return hottest; },
    step() { now += STEP_US; agent.tick(); hottest = Math.max(hottest, device.truth); },
  };
}
type Zone = ReturnType<typeof zone>;

/** Step every zone, let the messages through, run the coordinator's cycle; until pred holds (bounded in steps). */
async function run(coord: Coordinator, zones: Zone[], pred: () => boolean, what: string, maxSteps = 600) {
  for (let i = 0; i < maxSteps && !pred(); i++) {
    for (const z of zones) z.step();
    await wait(i % 5 === 0 ? 10 : 2);
    coord.cycle();
  }
  expect(pred(), what).toBe(true);
}

/** Simulated seconds, each zone stepped, messages let through. */
async function runFor(coord: Coordinator, zones: Zone[], seconds: number) {
  for (let i = 0; i < seconds * 1e6 / STEP_US; i++) {
    for (const z of zones) z.step();
    await wait(i % 5 === 0 ? 10 : 2);
    coord.cycle();
  }
}

describe('the trip through the binding (no broker needed)', () => {
  it('a reversed heater driver: the core trips, the binding cuts the heater before the command is written, the chamber stays inside its envelope', () => {
    // heater driver reversed at t=30 s -> told to back off, it heats -> the core classes it reversed -> trip output de-energized
    const z = zone(null, 'gw1', { faults: [REVERSED] });
    while (z.nowS < REVERSED_AT_S) z.step();
    expect(z.calls.filter((c) => c === 'trip')).toEqual([]);
    z.calls.length = 0;
    while (z.nowS < REVERSED_AT_S + 5) z.step();
    // The trip: every tick from it on de-energizes first, then writes the command (which the cut power ignores).
    const first = z.calls.indexOf('trip');
    expect(first, 'the binding saw the trip within 5 s of the fault').toBeGreaterThanOrEqual(0);
    expect(z.calls[first + 1]).toBe('write');
    expect(z.core.tripped).toBe(true);
    expect(z.core.mode).toBe('SAFE_STOP');
    expect(z.core.latchedCauses).toEqual(['act_reversed']);
    expect(z.device.tripActing, 'the contactor opened').toBe(true);
    expect(z.device.feedback, "the heater's meter reads no power").toBe(0);
    // 60 s on: the heater stays off, the chamber cools; it never went above its 95 C limit.
    while (z.nowS < REVERSED_AT_S + 65) z.step();
    expect(z.core.tripped).toBe(true);
    expect(z.core.guardFlags).not.toContain('trip_failed');
    expect(z.device.truth).toBeLessThan(70);
    expect(z.hottest).toBeLessThan(z.device.spec.envelope.max);
  });

  it('a welded contactor: the trip is demanded, the heater keeps its power, and the core names the trip failed from its meter', () => {
    // heater driver reversed at t=30 s, contactor welded -> the core trips -> the meter still reads power after
    // trip_verify_us (1 s) -> trip_failed (event and status flag); the binding is still told to de-energize every tick.
    const z = zone(null, 'gw1', { faults: [REVERSED, WELDED] });
    while (z.nowS < REVERSED_AT_S + 10) z.step();
    expect(z.core.tripped).toBe(true);
    expect(z.device.trip).toBe(true);
    expect(z.device.tripActing).toBe(false);
    expect(z.device.feedback, 'the welded heater runs on').toBeGreaterThan(50);
    expect(z.core.guardFlags).toContain('trip_failed');
    const out = z.events.find((e) => e.kind === 'trip_out' && e.tripped)!;
    const failed = z.events.find((e) => e.kind === 'trip_failed')!;
    expect(failed).toMatchObject({ reason: 'act_reversed' });
    // At the verify time (1 s: the 10th tick tripped, counting the trip's own) or a few ticks after, never before.
    expect(failed.tick - out.tick).toBeGreaterThanOrEqual(9);
    expect(failed.tick - out.tick).toBeLessThanOrEqual(20);
    expect(z.calls.slice(-2)).toEqual(['trip', 'write']);
  });

  it('contrapositive: the same chamber without the fault runs 120 s and the trip output is never de-energized', () => {
    const z = zone(null, 'gw1');
    while (z.nowS < 120) z.step();
    expect(z.calls.filter((c) => c === 'trip')).toEqual([]);
    // Every tick drives both channels: run permitted after the command.
    expect(z.calls.slice(-2)).toEqual(['write', 'run']);
    expect(z.core.mode).toBe('NOMINAL');
    expect(z.device.trip).toBe(false);
  });
});

describe.each(BROKER_KINDS)('the guard over Sparkplug B on %s', (kind) => {
  it('births announce the envelope with units; a tripped zone reports the trip and its cause; the store keeps trip rows; an operator reset says what it released', async () => {
    broker = await startBroker(kind);
    const raw: { topic: string; metrics: TahuMetric[] }[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    cleanup.push(() => sub.endAsync());
    await sub.subscribeAsync('spBv1.0/plant1/+/+/+', { qos: 1 });
    sub.on('message', (topic, payload) => { raw.push({ topic, metrics: tahu.decodePayload(payload).metrics }); });
    const store = new TelemetryStore(':memory:');
    const recorder = new Recorder(store, { flushMs: 0 });
    cleanup.push(async () => { recorder.close(); store.close(); });
    const coord = new Coordinator({ broker: broker.url, hostId: 'g1', contain: false, onData: (k, p, ms) => recorder.record(k, p, ms) });
    cleanup.push(() => coord.stop());
    await wait(100);
    const faulty = zone(broker.url, 'gw1', { faults: [REVERSED], primaryHost: 'g1' });
    const healthy = zone(broker.url, 'gw2', { primaryHost: 'g1' });
    const zones = [faulty, healthy];
    await run(coord, zones, () => coord.agents.size === 2, 'both zones discovered');

    // DBIRTH, as Tahu's own decoder reads it: the envelope and the measured values in C, the command in %,
    // the prediction a Float, the guard's status bits named.
    const birth = raw.find((m) => m.topic === 'spBv1.0/plant1/DBIRTH/gw1/loop')!;
    const bm = (name: string) => birth.metrics.find((m) => m.name === name)!;
    expect(bm('envelope/min')).toMatchObject({ type: 'Double', value: 10, properties: { engUnit: { type: 'String', value: 'C' } } });
    expect(bm('envelope/max')).toMatchObject({ type: 'Double', value: 95, properties: { engUnit: { type: 'String', value: 'C' } } });
    expect(bm('measurement').properties).toMatchObject({ engUnit: { type: 'String', value: 'C' }, readOnly: { type: 'Boolean', value: true } });
    expect(bm('output').properties).toMatchObject({ engUnit: { type: 'String', value: '%' } });
    expect(bm('setpoint').properties).toMatchObject({ engUnit: { type: 'String', value: 'C' }, readOnly: { type: 'Boolean', value: false } });
    expect(bm('predicted')).toMatchObject({ type: 'Float', properties: { engUnit: { type: 'String', value: 'C' } } });
    expect(bm('trip')).toMatchObject({ type: 'Boolean', value: false });
    expect(bm('guard/status')).toMatchObject({ type: 'Int32', value: 0 });
    expect(String(bm('guard/status').properties!.bits.value).split(',').slice(0, 5)).toEqual(['heading_over', 'heading_under', 'outside', 'holding', 'tripped']);
    expect(coord.agents.get(faulty.key)!.envelope).toEqual({ min: 10, max: 95, unit: 'C' });

    // heater driver reversed at t=30 s -> the core trips within 5 s -> DDATA says so, with the cause
    await run(coord, zones, () => coord.agents.get(faulty.key)!.tripped, 'the trip seen by the coordinator', 400);
    expect(faulty.nowS).toBeLessThan(REVERSED_AT_S + 5);
    const v = coord.agents.get(faulty.key)!;
    expect(v).toMatchObject({ mode: 'SAFE_STOP', tripCause: 'act_reversed/actuation', latched: ['act_reversed'] });
    expect(v.guard).toEqual(expect.arrayContaining(['tripped', 'latched']));
    const data = raw.filter((m) => m.topic === 'spBv1.0/plant1/DDATA/gw1/loop').at(-1)!;
    expect(data.metrics.find((m) => m.name === 'trip')).toMatchObject({ type: 'Boolean', value: true });
    expect(data.metrics.find((m) => m.name === 'trip/cause')).toMatchObject({ value: 'act_reversed/actuation' });
    expect(data.metrics.find((m) => m.name === 'guard/latched')).toMatchObject({ value: 'act_reversed' });
    recorder.flush();
    expect(store.alarms(0).filter((a) => a.kind.startsWith('trip_'))).toEqual([
      { agent: faulty.key, tMs: expect.any(Number), kind: 'trip_out', monitor: 'act_reversed', stage: 'actuation' }]);
    const samples = store.latest(faulty.key, 1);
    expect(samples[0].tripped).toBe(true);

    // The operator's reset, 20 s later: the trip is verified (the heater's meter reads 0 %), so the latch is released;
    // the core hands back, finds the driver still reversed and trips again. The store has the release and the new trip.
    await runFor(coord, zones, 20);
    const reset = coord.command(faulty.key, { kind: 'reset' });
    await run(coord, zones, () => reset.state !== 'sent', 'the reset acknowledged', 100);
    // The count is the core's: the trip's latch, and any monitor latch whose condition has cleared; nothing is left latched.
    expect(reset.state).toBe('acked');
    expect(reset.detail).toMatch(/^ok released [1-9]\d*$/);
    await run(coord, zones, () => store.alarms(0).filter((a) => a.kind === 'trip_out').length === 2 || (recorder.flush(), false), 'tripped again', 300);
    expect(store.alarms(0).filter((a) => a.kind.startsWith('trip_')).map((a) => `${a.kind} ${a.monitor}`))
      .toEqual(['trip_out act_reversed', 'trip_release act_reversed', 'trip_out act_reversed']);
    expect(faulty.hottest).toBeLessThan(95);

    // Contrapositive: the healthy zone never tripped, nothing latched, no trip rows; its reset releases nothing.
    const quiet = coord.command(healthy.key, { kind: 'reset' });
    await run(coord, zones, () => quiet.state !== 'sent', 'the second reset acknowledged', 100);
    expect(quiet).toMatchObject({ state: 'acked', detail: 'ok released 0' });
    expect(coord.agents.get(healthy.key)).toMatchObject({ tripped: false, tripCause: '', guard: [], latched: [], mode: 'NOMINAL' });
    expect(healthy.calls).not.toContain('trip');
    expect(store.alarms(0).filter((a) => a.agent === healthy.key)).toEqual([]);
  }, 60_000);

  it("an operator's mode commands: fallback, trip and release reach the core's demand and are acknowledged", async () => {
    broker = await startBroker(kind);
    const coord = new Coordinator({ broker: broker.url, hostId: 'g2', contain: false });
    cleanup.push(() => coord.stop());
    await wait(100);
    const z = zone(broker.url, 'gw1', { primaryHost: 'g2' });
    const view = () => coord.agents.get(z.key)!;
    await run(coord, [z], () => coord.agents.size === 1, 'discovered');
    await runFor(coord, [z], 5);
    const send = async (value: 'fallback' | 'trip' | 'release') => {
      const c = coord.command(z.key, { kind: 'mode', value });
      await run(coord, [z], () => c.state !== 'sent', `mode ${value} acknowledged`, 100);
      return c;
    };

    // mode fallback -> the core's fallback controller from the next tick; the guard names the host's demand
    expect(await send('fallback')).toMatchObject({ kind: 'mode', state: 'acked', detail: 'ok demand fallback' });
    await run(coord, [z], () => view().mode === 'FALLBACK', 'FALLBACK reported', 50);
    expect(view().guard).toContain('demanded');
    expect(view().causes).toEqual(['host']);
    expect(z.core.tripped).toBe(false);

    // mode release -> back the way the guard comes back: after its hand-back time well inside the envelope
    expect(await send('release')).toMatchObject({ state: 'acked', detail: 'ok demand none' });
    await run(coord, [z], () => view().mode === 'NOMINAL', 'NOMINAL again', 300);
    expect(view().guard).not.toContain('demanded');

    // mode trip -> the trip output de-energized through the binding; release -> energized again
    expect(await send('trip')).toMatchObject({ state: 'acked', detail: 'ok demand trip' });
    await run(coord, [z], () => view().tripped, 'the trip reported', 50);
    expect(view()).toMatchObject({ mode: 'SAFE_STOP', tripCause: 'host' });
    expect(z.device.trip).toBe(true);
    expect(await send('release')).toMatchObject({ state: 'acked', detail: 'ok demand none' });
    await run(coord, [z], () => !view().tripped && view().mode === 'NOMINAL', 'run permitted again', 300);
    expect(z.device.trip).toBe(false);
    expect(z.calls.slice(-2)).toEqual(['write', 'run']);

    // Contrapositive: a mode the agent does not know is refused before anything is sent.
    expect(() => coord.command(z.key, { kind: 'mode', value: 'none' as 'release' })).toThrow(/mode must be one of fallback, trip, release, got "none"/);
    expect([...coord.commands.values()].filter((c) => c.kind === 'mode')).toHaveLength(4);
  }, 60_000);

  it.each<[ContainAction, string]>([
    ['fallback', 'its dependent is switched to its fallback, and the operator releases it with command/mode release'],
    ['hold', '(contrapositive: the default) its dependent is held instead, and its guard sees no demand'],
  ])('containment by %s: an upstream zone tripped by its operator; %s', async (action) => {
    broker = await startBroker(kind);
    const coord = new Coordinator({ broker: broker.url, hostId: 'g3', contain: action });
    cleanup.push(() => coord.stop());
    await wait(100);
    // A chain: A -> B -> C (B follows A, C follows B).
    const A = zone(broker.url, 'a', { primaryHost: 'g3' });
    const B = zone(broker.url, 'b', { primaryHost: 'g3', dependsOn: ['plant1/a/loop'] });
    const C = zone(broker.url, 'c', { primaryHost: 'g3', dependsOn: ['plant1/b/loop'] });
    const zones = [A, B, C];
    const b = () => coord.agents.get(B.key)!;
    await run(coord, zones, () => coord.agents.size === 3 && coord.agents.get(C.key)!.dependsOn.length === 1, 'the chain discovered');
    await runFor(coord, zones, 5);

    // A tripped by its operator -> A leaves control (SAFE_STOP) -> B, its direct dependent, is contained; C is not.
    const trip = coord.command(A.key, { kind: 'mode', value: 'trip' });
    if (action === 'fallback') {
      await run(coord, zones, () => b().mode === 'FALLBACK' && b().guard.includes('demanded'), 'B in its fallback, on demand', 100);
      expect(b()).toMatchObject({ contained: 'fallback', held: false, causes: ['host'] });
      expect(B.agent.followingReference).toBe(true);
    } else {
      await run(coord, zones, () => b().reportsHeld, 'B held', 100);
      expect(b()).toMatchObject({ contained: 'hold', held: true, mode: 'NOMINAL' });
      expect(b().guard).not.toContain('demanded');
    }
    expect(trip.state).toBe('acked');
    await runFor(coord, zones, 3);
    // B's demanded fallback is not a disturbance of its own: the scope does not widen to C.
    expect(coord.decisions.map((d) => `${d.action} ${d.agent}`)).toEqual([`${action} ${B.key}`]);
    expect(coord.decisions[0].reason).toMatch(new RegExp(`plant1/a/loop left control \\(SAFE_STOP\\); ${B.key} depends on it${action === 'fallback' ? ': switched to its fallback' : '$'}`));
    expect(coord.agents.get(C.key)!.contained).toBeNull();

    // The operator releases B: the release matches the containment (command/mode release after a fallback, command/release after a hold).
    const rel = coord.command(B.key, { kind: 'release' });
    expect(rel.kind).toBe(action === 'fallback' ? 'mode' : 'release');
    await run(coord, zones, () => rel.state !== 'sent', 'the release acknowledged', 100);
    expect(rel).toMatchObject({ state: 'acked', detail: action === 'fallback' ? 'ok demand none' : 'ok' });
    await run(coord, zones, () => b().mode === 'NOMINAL' && !b().guard.includes('demanded') && !b().reportsHeld, 'B back under its primary controller', 300);
    expect(b().contained).toBeNull();
  }, 60_000);
});
