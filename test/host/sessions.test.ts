// Sparkplug B 3.0 session details (issue 12, part 2, in part), read with an
// independent decoder (Eclipse Tahu's sparkplug-payload) on the real
// traffic: bdSeq is an Int64 in NBIRTH and in the NDEATH Will; the
// coordinator's online STATE carries its Will's timestamp; its commands go
// out at QoS 0 (one that cannot be delivered now must not arrive later).
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';

type TahuMetric = { name: string; type: string; value: unknown };
const tahu = (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): { decodePayload(b: Uint8Array): { metrics: TahuMetric[] } } }).get('spBv1.0');

let broker: EmbeddedBroker | null = null;
afterEach(async () => { await broker?.close(); broker = null; });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A coordinator (host id `hostId`) and one agent on `node`, ticked on a clock the test moves. */
function coordinatorAndAgent(url: string, hostId: string, node: string) {
  const coord = new Coordinator({ broker: url, hostId, contain: false });
  const core = freshCore();
  core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, out_min: 0, out_max: 100, model_gain: 1.5, model_tau: 60, model_offset: 20,
    period_min_us: 100_000, period_max_us: 100_000 });
  core.setSetpoint(60, 0);
  const clock = { now: 0 };
  const agent = new Agent({ group: 'plant1', node, device: 'loop1', core, binding: chamberBinding(), broker: url, clockUs: () => clock.now });
  const step = () => { clock.now += 100_000; agent.tick(); coord.cycle(); };
  const until = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !pred(); i++) { step(); await wait(20); }
    expect(pred(), what).toBe(true);
  };
  return { coord, agent, step, until };
}

describe('Sparkplug B 3.0 sessions', () => {
  it('bdSeq is Int64 in NBIRTH and NDEATH; the online STATE has the Will\'s timestamp; commands go out at QoS 0', async () => {
    broker = await startEmbeddedBroker();
    const spy = await mqtt.connectAsync(broker.url);
    const got: { topic: string; qos: number; payload: Buffer }[] = [];
    spy.on('message', (topic, payload, packet) => got.push({ topic, qos: packet.qos, payload }));
    await spy.subscribeAsync(['spBv1.0/#'], { qos: 1 });
    const { coord, agent, step, until } = coordinatorAndAgent(broker.url, 'sess1', 'gw1');
    try {
      await until(() => coord.agents.has('plant1/gw1/loop1') && got.some((m) => m.topic === 'spBv1.0/STATE/sess1'), 'the agent seen, STATE online');
      const nbirth = got.find((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')!;
      expect(tahu.decodePayload(nbirth.payload).metrics.find((m) => m.name === 'bdSeq')?.type).toBe('Int64');

      coord.command('plant1/gw1/loop1', { kind: 'setpoint', value: 61 });
      await until(() => got.some((m) => m.topic === 'spBv1.0/plant1/DCMD/gw1/loop1'), 'the DCMD');
      // The spy subscribed at QoS 1: it receives at the publisher's QoS, the lower of the two.
      expect(got.find((m) => m.topic === 'spBv1.0/plant1/DCMD/gw1/loop1')!.qos).toBe(0);

      const online = JSON.parse(got.filter((m) => m.topic === 'spBv1.0/STATE/sess1').at(-1)!.payload.toString()) as { online: boolean; timestamp: number };
      expect(online.online).toBe(true);
      // The coordinator drops off without a clean disconnect: the broker publishes its Will.
      (coord as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
      await until(() => got.some((m) => m.topic === 'spBv1.0/STATE/sess1' && JSON.parse(m.payload.toString()).online === false), 'the Will');
      const will = JSON.parse(got.filter((m) => m.topic === 'spBv1.0/STATE/sess1').find((m) => JSON.parse(m.payload.toString()).online === false)!.payload.toString());
      expect(will.timestamp).toBe(online.timestamp);

      agent.kill();
      await until(() => got.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1'), 'the NDEATH Will');
      const ndeath = got.find((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1')!;
      expect(tahu.decodePayload(ndeath.payload).metrics.find((m) => m.name === 'bdSeq')?.type).toBe('Int64');
    } finally {
      await coord.stop();
      await spy.endAsync();
    }
  }, 30_000);

  it('the coordinator re-asserts its STATE when its topic says offline; a new session has a new Will and birth timestamp; a command while the link is down is dropped, not sent late', async () => {
    broker = await startEmbeddedBroker();
    const spy = await mqtt.connectAsync(broker.url);
    const states: { online: boolean; timestamp: number; retain: boolean }[] = [];
    const dcmds: string[] = [];
    spy.on('message', (topic, payload, packet) => {
      if (topic === 'spBv1.0/STATE/sess2') states.push({ ...(JSON.parse(payload.toString()) as { online: boolean; timestamp: number }), retain: packet.retain });
      else if (topic.includes('/DCMD/')) dcmds.push(topic);
    });
    await spy.subscribeAsync(['spBv1.0/#'], { qos: 1 });
    const { coord, agent, step, until } = coordinatorAndAgent(broker.url, 'sess2', 'gw2');
    try {
      await until(() => coord.agents.get('plant1/gw2/loop1')?.health === 'online' && states.some((s) => s.online), 'online');
      const birth = states.find((s) => s.online)!;
      // A stray offline STATE on its topic (retained, its own timestamp): answered with the online STATE again.
      await spy.publishAsync('spBv1.0/STATE/sess2', JSON.stringify({ online: false, timestamp: birth.timestamp }), { qos: 1, retain: true });
      await until(() => coord.stateReasserted === 1 && states.at(-1)!.online, 'the online STATE re-asserted');
      expect(states.at(-1)!.timestamp).toBe(birth.timestamp);
      // Two more within a second (another process with its id, say): the last word is still online.
      await spy.publishAsync('spBv1.0/STATE/sess2', JSON.stringify({ online: false, timestamp: birth.timestamp }), { qos: 1, retain: true });
      await wait(300);
      await spy.publishAsync('spBv1.0/STATE/sess2', JSON.stringify({ online: false, timestamp: birth.timestamp }), { qos: 1, retain: true });
      await until(() => coord.stateReasserted === 3, 'both seen');
      await wait(1200);
      await until(() => states.at(-1)!.online, 'online again after the second');
      // An offline STATE newer than its birth (a clock ahead elsewhere): this session leaves with its own offline
      // STATE and starts again with a birth newer than that one, which edge nodes take over it.
      const ahead = Date.now() + 60_000;
      const before = states.length;
      await spy.publishAsync('spBv1.0/STATE/sess2', JSON.stringify({ online: false, timestamp: ahead }), { qos: 1, retain: true });
      await until(() => states.slice(before).some((x) => x.online && x.timestamp > ahead), 'a birth newer than the offline STATE');
      // It left with an offline STATE of its own (the time then), older than its new birth.
      const left = states.slice(before).find((x) => !x.online && x.timestamp !== ahead)!;
      expect(left.timestamp).toBeGreaterThanOrEqual(birth.timestamp);
      expect(states.slice(before).find((x) => x.online)!.timestamp).toBeGreaterThan(Math.max(left.timestamp, ahead));
      // One more than a day ahead is no host's clock: answered with the online STATE, no new session.
      const far = states.length;
      await spy.publishAsync('spBv1.0/STATE/sess2', JSON.stringify({ online: false, timestamp: 1e300 }), { qos: 1, retain: true });
      await wait(1100);
      await until(() => states.slice(far).some((x) => x.online), 'answered');
      expect(states.slice(far).filter((x) => x.online).every((x) => x.timestamp < 1e300)).toBe(true);
      // A late subscriber gets it retained.
      const late = await mqtt.connectAsync(broker.url);
      const retained = await new Promise<{ online: boolean; retain: boolean }>((resolve) => {
        late.on('message', (_t, payload, packet) => resolve({ ...(JSON.parse(payload.toString()) as { online: boolean }), retain: packet.retain }));
        void late.subscribeAsync('spBv1.0/STATE/sess2', { qos: 1 });
      });
      await late.endAsync();
      expect(retained).toMatchObject({ online: true, retain: true });

      // The connection drops: its Will (the birth's timestamp), then a new session with a newer one.
      const session = states.filter((x) => x.online).at(-1)!;
      const count = states.length;
      (coord as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
      // While it is down, a command: refused by the link, never delivered when it comes back.
      await until(() => !coord.link.connected || !(coord as unknown as { client: { connected: boolean } }).client.connected, 'the link down');
      try { coord.command('plant1/gw2/loop1', { kind: 'setpoint', value: 61 }); } catch { /* the send may throw while down: either way it must not arrive */ }
      await until(() => states.slice(count).some((s) => s.online), 'a new session online');
      const after = states.slice(count);
      expect(after[0]).toMatchObject({ online: false, timestamp: session.timestamp });
      expect(after.find((s) => s.online)!.timestamp).toBeGreaterThan(session.timestamp);
      for (let i = 0; i < 20; i++) { step(); await wait(20); }
      expect(dcmds).toEqual([]);
    } finally {
      await agent.stop();
      await coord.stop();
      await spy.endAsync();
    }
  }, 30_000);
});
