// A SCADA host commands an agent the way Ignition writes a tag (issue 12,
// part 1): a DCMD carrying the DBIRTH metric `setpoint` and a new value,
// encoded with Eclipse Tahu's sparkplug-payload (not edgeloop's codec), with
// no edgeloop command id. The loop takes it, and the answer goes out under
// the metric's name; a bad value is refused with the reason; and
// `Device Control/Rebirth` brings the births again.
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent } from '../../host/agent/agent.js';
import { decodePayload } from '../../host/mqtt/codec.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';

type TahuMetric = { name: string; type: string; value: unknown };
const tahu = (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): { encodePayload(p: { timestamp: number; metrics: TahuMetric[] }): Uint8Array } })
  .get('spBv1.0');

let broker: EmbeddedBroker | null = null;
afterEach(async () => { await broker?.close(); broker = null; });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a host writes a birth metric, as Ignition does', () => {
  it('setpoint by its DBIRTH name, no command id: applied, answered "setpoint ok"; a bad value answered with why; Device Control/Rebirth births again', async () => {
    broker = await startEmbeddedBroker();
    const host = await mqtt.connectAsync(broker.url);
    const seen: { topic: string; metrics: { name: string; value: unknown }[] }[] = [];
    host.on('message', (topic, payload) => { try { seen.push({ topic, metrics: decodePayload(payload).metrics }); } catch { /* not ours */ } });
    await host.subscribeAsync('spBv1.0/plant1/#', { qos: 1 });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100,
      model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(80, 0);
    let now = 0;
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, binding: chamberBinding(), broker: broker.url, clockUs: () => now });
    const until = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 150 && !pred(); i++) { now += 100_000; agent.tick(); await wait(20); }
      expect(pred(), what).toBe(true);
    };
    const acked = (text: string) => () => seen.some((m) => m.metrics.some((x) => x.name === 'command/ack' && x.value === text));
    try {
      await until(() => seen.some((m) => m.topic === 'spBv1.0/plant1/DBIRTH/gw1/loop1'), 'DBIRTH');
      // The birth declares what a host may write and every metric DDATA will carry, the acknowledgement too.
      const birth = seen.find((m) => m.topic === 'spBv1.0/plant1/DBIRTH/gw1/loop1')!.metrics.map((m) => m.name);
      expect(birth).toEqual(expect.arrayContaining(['setpoint', 'command/ack', 'Device Control/Rebirth']));
      const dcmd = 'spBv1.0/plant1/DCMD/gw1/loop1';
      await host.publishAsync(dcmd, Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'setpoint', type: 'Double', value: 72.5 }] })));
      await until(acked('setpoint ok'), 'the write answered under its name');
      expect(core.setpoint).toBe(72.5);
      // Nothing in DDATA that the birth did not declare.
      const declared = new Set(birth);
      const undeclared = seen.filter((m) => m.topic.endsWith('/DDATA/gw1/loop1')).flatMap((m) => m.metrics.map((x) => x.name)).filter((n) => !declared.has(n));
      expect([...new Set(undeclared)]).toEqual([]);

      await host.publishAsync(dcmd, Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'setpoint', type: 'String', value: 'hot' }] })));
      await until(() => seen.some((m) => m.metrics.some((x) => x.name === 'command/ack' && typeof x.value === 'string'
        && /^setpoint rejected: setpoint: expected a finite number, received "hot"$/.test(x.value))), 'a bad write refused, with why');
      expect(core.setpoint).toBe(72.5);

      const births = seen.filter((m) => m.topic.endsWith('/DBIRTH/gw1/loop1')).length;
      await host.publishAsync(dcmd, Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Device Control/Rebirth', type: 'Boolean', value: true }] })));
      await until(() => seen.filter((m) => m.topic.endsWith('/DBIRTH/gw1/loop1')).length > births, 'births again');
      // The node's birth comes first: a DBIRTH belongs to the NBIRTH's session.
      const last = seen.map((m) => m.topic).lastIndexOf('spBv1.0/plant1/NBIRTH/gw1');
      expect(last).toBeLessThan(seen.map((m) => m.topic).lastIndexOf('spBv1.0/plant1/DBIRTH/gw1/loop1'));
      expect(last).toBeGreaterThan(0);
    } finally {
      await agent.stop();
      await host.endAsync();
    }
  }, 30_000);
});
