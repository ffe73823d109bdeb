// An agent on the embedded broker: Sparkplug births, data with seq, commands
// acknowledged, and the death certificate when it drops off. Loopback only,
// bounded in time.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent } from '../../host/agent/agent.js';
import { decodePayload, encodePayload } from '../../host/mqtt/codec.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';

let broker: EmbeddedBroker | null = null;
afterEach(async () => { await broker?.close(); broker = null; });

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agent over MQTT (embedded aedes)', () => {
  it('refuses a non-loopback listener without credentials', async () => {
    await expect(startEmbeddedBroker({ host: '0.0.0.0' })).rejects.toThrow(/requires credentials/);
  });

  it('births, reports data with a running seq, takes and acknowledges a setpoint, and its NDEATH fires when it drops', async () => {
    broker = await startEmbeddedBroker();
    const seen: { topic: string; p: ReturnType<typeof decodePayload> }[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    await sub.subscribeAsync('spBv1.0/#', { qos: 1 });
    sub.on('message', (topic, payload) => {
      try { seen.push({ topic, p: decodePayload(payload) }); } catch { /* our own malformed DCMD below */ }
    });

    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100,
      model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(80, 0);
    let now = 0;
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, binding: chamberBinding(), broker: broker.url, clockUs: () => now });
    const until = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !pred(); i++) await wait(20);
      expect(pred(), what).toBe(true);
    };
    await until(() => seen.some((m) => m.topic.endsWith('/DBIRTH/gw1/loop1')), 'DBIRTH');
    for (let i = 0; i < 5; i++) { now += 100_000; agent.tick(); }
    await until(() => seen.filter((m) => m.topic.includes('/DDATA/')).length >= 5, 'five DDATA');
    const nbirth = seen.find((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')!;
    expect(nbirth.p.seq).toBe(0);
    expect(nbirth.p.metrics.find((m) => m.name === 'bdSeq')).toBeDefined();
    const seqs = seen.filter((m) => m.topic.startsWith('spBv1.0/plant1/')).map((m) => m.p.seq);
    expect(seqs.slice(0, 7)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const data = seen.find((m) => m.topic.includes('/DDATA/'))!;
    expect(data.p.metrics.map((m) => m.name)).toEqual(expect.arrayContaining(['setpoint', 'measurement', 'output', 'mode', 'cause']));

    // A setpoint command (and a malformed one): applied on the next tick, acknowledged in DDATA.
    const dcmd = 'spBv1.0/plant1/DCMD/gw1/loop1';
    await sub.publishAsync(dcmd, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [
      { name: 'command/id', type: 'String', value: 'c-7' }, { name: 'command/setpoint', type: 'Double', value: 70 }] })), { qos: 1 });
    await sub.publishAsync(dcmd, Buffer.from([1, 2, 3, 4, 5]), { qos: 1 });
    await wait(100);
    now += 100_000;
    agent.tick();
    expect(core.setpoint).toBe(70);
    expect(agent.stats.commandsApplied).toBe(1);
    expect(agent.stats.commandsRejected).toBe(1);
    await until(() => seen.some((m) => m.p.metrics.some((x) => x.name === 'command/ack' && x.value === 'c-7 ok')), 'the ack');

    // A command with a usable id and a body that is not a command: refused, and the refusal acknowledged with the reason.
    await sub.publishAsync(dcmd, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [
      { name: 'command/id', type: 'String', value: 'c-8' }, { name: 'command/setpoint', type: 'String', value: 'seventy' }] })), { qos: 1 });
    await wait(100);
    now += 100_000;
    agent.tick();
    expect(core.setpoint).toBe(70);
    expect(agent.stats.commandsRejected).toBe(2);
    await until(() => seen.some((m) => m.p.metrics.some((x) => x.name === 'command/ack' && typeof x.value === 'string'
      && /^c-8 rejected: .*command\/setpoint.*a finite number/.test(x.value))), 'the rejection, acknowledged');

    // More commands than its inbox holds before a tick drains it (inboxMax 64): the first 64 are taken
    // in; each of the others is dropped, counted, and answered as rejected, so its sender knows to resend.
    for (let k = 0; k < 66; k++) {
      await sub.publishAsync(dcmd, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [
        { name: 'command/id', type: 'String', value: `f-${k}` }, { name: 'command/setpoint', type: 'Double', value: 60 + k / 10 }] })), { qos: 1 });
    }
    await until(() => agent.stats.inboxDropped === 2, 'two dropped');
    now += 100_000;
    agent.tick();
    expect(agent.stats.commandsApplied).toBe(1 + 64);
    await until(() => seen.some((m) => m.p.metrics.some((x) => x.name === 'command/ack' && x.value === 'f-65 rejected: the agent\'s command inbox is full (64 waiting); send it again')), 'the dropped one, answered');
    for (let k = 0; k < 5; k++) { now += 100_000; agent.tick(); }
    await until(() => seen.some((m) => m.p.metrics.some((x) => x.name === 'command/ack' && x.value === 'f-63 ok')), 'the last one taken in, applied');

    // A setpoint command stays whatever tick it lands on: eleven ticks, a command before each, span the
    // agent's 1 s setpoint refresh, and the refresh re-sends the commanded setpoint, not the one before it.
    for (let k = 0; k < 11; k++) {
      const value = 65 + k;
      await sub.publishAsync(dcmd, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [
        { name: 'command/id', type: 'String', value: `r-${k}` }, { name: 'command/setpoint', type: 'Double', value }] })), { qos: 1 });
      await until(() => agent.inboxLength > 0, `command r-${k} in the inbox`);
      now += 100_000;
      agent.tick();
      expect(core.setpoint, `after the tick that applied r-${k}`).toBe(value);
    }

    // It drops off without a clean disconnect: the broker publishes its Will, NDEATH with bdSeq.
    agent.kill();
    await until(() => seen.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1'), 'NDEATH');
    await sub.endAsync();
  });
});
