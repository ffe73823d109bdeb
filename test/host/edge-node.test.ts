// The agent as a Sparkplug B 3.0 edge node, seen from outside (issue 12,
// parts 1 to 4): every message is read with Eclipse Tahu's sparkplug-payload,
// not edgeloop's codec, and every command is written with it, on a real
// Mosquitto (aedes where Mosquitto is not installed). A host writes the
// DBIRTH's writable metrics the way Ignition writes tags; births declare
// every metric with its properties and timestamps; bdSeq survives a restart;
// the primary host's STATE is checked by timestamp and its offline STATE
// ends the session; spooled samples come back once, as history; and report
// by exception sends only what moved.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, type AgentOptions } from '../../host/agent/agent.js';
import { Exceptions } from '../../host/agent/report.js';
import type { Metric } from '../../host/mqtt/codec.js';
import { BROKER_KINDS, startBroker, type TestBroker } from '../support/brokers.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';

interface TahuMetric { name: string; type: string; value: unknown; timestamp?: unknown; isHistorical?: boolean; properties?: Record<string, { type: string; value: unknown }> }
interface TahuPayload { timestamp?: unknown; seq?: unknown; metrics: TahuMetric[] }
const tahu = (createRequire(import.meta.url)('sparkplug-payload') as {
  get(ns: string): { decodePayload(b: Uint8Array): TahuPayload; encodePayload(p: { timestamp: number; metrics: { name: string; type: string; value: unknown }[] }): Uint8Array };
}).get('spBv1.0');

const KIND = BROKER_KINDS.includes('mosquitto') ? 'mosquitto' : 'aedes';
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number((v as { toString(): string }).toString()));

let broker: TestBroker | null = null;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await broker?.close();
  broker = null;
});

interface Seen { topic: string; p: TahuPayload; raw: Buffer }

/** A host that reads everything under spBv1.0/ with Tahu's decoder. */
async function spy(url: string): Promise<{ client: MqttClient; seen: Seen[] }> {
  const client = await mqtt.connectAsync(url, { clientId: `spy-${Math.random().toString(16).slice(2)}` });
  const seen: Seen[] = [];
  client.on('message', (topic, raw) => {
    if (topic.startsWith('spBv1.0/STATE/')) return;
    try { seen.push({ topic, p: tahu.decodePayload(raw), raw }); } catch { /* not Sparkplug */ }
  });
  await client.subscribeAsync('spBv1.0/#', { qos: 1 });
  // After a broker restart: subscribed again (a clean session keeps nothing).
  client.on('connect', () => { client.subscribe('spBv1.0/#', { qos: 1 }); });
  cleanups.push(() => client.endAsync());
  return { client, seen };
}

function chamberAgent(url: string, extra: Partial<AgentOptions> = {}, node = 'gw1') {
  const core = freshCore();
  core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100, env_min: 0, env_max: 150,
    model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000 });
  core.setSetpoint(80, 0);
  const clock = { now: 0 };
  const agent = new Agent({ group: 'plant1', node, device: 'loop1', core, binding: chamberBinding(), broker: url, clockUs: () => clock.now,
    units: { measurement: 'C', command: '%' }, ...extra });
  cleanups.push(() => agent.stop());
  const until = async (pred: () => boolean, what: string, ticks = 400) => {
    for (let i = 0; i < ticks && !pred(); i++) { clock.now += 100_000; agent.tick(); await wait(15); }
    expect(pred(), what).toBe(true);
  };
  return { agent, core, clock, until };
}

const dcmd = 'spBv1.0/plant1/DCMD/gw1/loop1';
const write = (c: MqttClient, metrics: { name: string; type: string; value: unknown }[]) =>
  c.publishAsync(dcmd, Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics })));
const acks = (seen: Seen[]) => seen.flatMap((m) => m.p.metrics.filter((x) => x.name === 'command/ack').map((x) => String(x.value)));

describe(`the agent as a Sparkplug 3.0 edge node (${KIND})`, () => {
  it('DBIRTH declares every metric with datatype, description, engUnit, readOnly and a timestamp; a host writes mode, held, guard/reset and parameters by name; refusals say why', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const { core, until } = chamberAgent(broker.url);
    await until(() => host.seen.some((m) => m.topic.includes('/DBIRTH/')), 'DBIRTH');
    const birth = host.seen.find((m) => m.topic.includes('/DBIRTH/'))!.p;
    const by = new Map(birth.metrics.map((m) => [m.name, m]));
    for (const m of birth.metrics) {
      expect(m.type, m.name).toMatch(/^(Int32|Int64|UInt64|Float|Double|Boolean|String)$/);
      expect(typeof m.properties?.description?.value, `${m.name} description`).toBe('string');
      expect(m.properties?.readOnly?.type, `${m.name} readOnly`).toBe('Boolean');
      expect(m.timestamp, `${m.name} timestamp`).toBeDefined();
    }
    expect(by.get('measurement')!.properties!.engUnit.value).toBe('C');
    expect(by.get('output')!.properties!.engUnit.value).toBe('%');
    const writable = birth.metrics.filter((m) => m.properties!.readOnly.value === false).map((m) => m.name);
    expect(writable).toEqual(expect.arrayContaining(['setpoint', 'mode', 'held', 'guard/reset', 'param/kp', 'param/env_max', 'Device Control/Rebirth']));
    expect(writable).not.toContain('measurement');
    expect(by.get('param/kp')!.value).toBe(10);
    expect(by.get('param/react.act_stuck')?.type).toBe('String');

    // Ignition's tag writes: the metric by its birth name, no command id. The setpoint first, its effect read on the loop.
    await write(host.client, [{ name: 'setpoint', type: 'Double', value: 72.5 }]);
    await until(() => acks(host.seen).includes('setpoint ok'), 'the setpoint write answered under its name');
    expect(core.setpoint).toBe(72.5);
    await until(() => host.seen.some((m) => m.topic.includes('/DDATA/') && m.p.metrics.some((x) => x.name === 'setpoint' && x.value === 72.5)), 'the loop reports the new setpoint');
    await write(host.client, [{ name: 'param/kp', type: 'Double', value: 8 }]);
    await until(() => acks(host.seen).includes('param/kp ok'), 'the parameter write answered under its name');
    expect(core.param('kp')).toBe(8);
    // Its new value rides on the next DDATA, as a declared metric.
    await until(() => host.seen.some((m) => m.topic.includes('/DDATA/') && m.p.metrics.some((x) => x.name === 'param/kp' && x.value === 8)), 'param/kp in DDATA');
    await write(host.client, [{ name: 'held', type: 'Boolean', value: true }]);
    await until(() => acks(host.seen).includes('held ok'), 'held written');
    await until(() => host.seen.some((m) => m.p.metrics.some((x) => x.name === 'held' && x.value === true)), 'the loop reports it holds');
    await write(host.client, [{ name: 'mode', type: 'String', value: 'FALLBACK' }]);
    await until(() => acks(host.seen).includes('mode ok demand fallback'), 'mode written');
    await until(() => core.mode === 'FALLBACK', 'the fallback controller runs');
    await write(host.client, [{ name: 'mode', type: 'String', value: 'NOMINAL' }]);
    await until(() => acks(host.seen).includes('mode ok demand none'), 'mode released');
    await write(host.client, [{ name: 'guard/reset', type: 'Boolean', value: true }]);
    await until(() => acks(host.seen).some((a) => a.startsWith('guard/reset ok released')), 'the reset answered');
    // Refused, each with the reason, and nothing else is touched.
    await write(host.client, [{ name: 'measurement', type: 'Double', value: 3 }, { name: 'param/kp', type: 'String', value: 'fast' }, { name: 'param/nope', type: 'Double', value: 1 }]);
    await until(() => acks(host.seen).filter((a) => a.includes('rejected')).length >= 3, 'three refusals');
    const refused = acks(host.seen).filter((a) => a.includes('rejected'));
    expect(refused.find((a) => a.startsWith('measurement rejected:'))).toMatch(/expected a writable metric/);
    expect(refused.find((a) => a.startsWith('param/kp rejected:'))).toMatch(/expected a finite number/);
    expect(refused.find((a) => a.startsWith('param/nope rejected:'))).toMatch(/known core parameter/);
    expect(core.param('kp')).toBe(8);
    // A value the core refuses (out of its range) is answered with the core's reason.
    await write(host.client, [{ name: 'param/kp', type: 'Double', value: -5 }]);
    await until(() => acks(host.seen).some((a) => a.startsWith('param/kp rejected: ')), 'an out-of-range parameter refused');
    expect(core.param('kp')).toBe(8);

    // Nothing in any DDATA that the birth did not declare; every metric timestamped.
    const data = host.seen.filter((m) => m.topic.includes('/DDATA/'));
    expect([...new Set(data.flatMap((m) => m.p.metrics.map((x) => x.name)).filter((n) => !by.has(n)))]).toEqual([]);
    expect(data.every((m) => m.p.metrics.every((x) => x.timestamp !== undefined))).toBe(true);
  }, 60_000);

  it('NBIRTH holds bdSeq (Int64) and Node Control/Rebirth, timestamped; seq 0 NBIRTH, 1 DBIRTH, then DDATA; births and data at QoS 0, the Will at QoS 1 without seq; a rebirth keeps the bdSeq and restarts seq', async () => {
    broker = await startBroker(KIND);
    const client = await mqtt.connectAsync(broker.url, { clientId: 'qos-spy' });
    const got: { topic: string; qos: number; p: TahuPayload }[] = [];
    client.on('message', (topic, raw, packet) => { if (!topic.startsWith('spBv1.0/STATE/')) got.push({ topic, qos: packet.qos, p: tahu.decodePayload(raw) }); });
    await client.subscribeAsync('spBv1.0/#', { qos: 1 });
    cleanups.push(() => client.endAsync());
    const { agent, until } = chamberAgent(broker.url);
    await until(() => got.filter((m) => m.topic.includes('/DDATA/')).length >= 3, 'births and data');
    const nbirth = got.find((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')!;
    expect(nbirth.p.metrics.map((m) => [m.name, m.type, m.value === false ? false : num(m.value)])).toEqual([['bdSeq', 'Int64', 0], ['Node Control/Rebirth', 'Boolean', false]]);
    expect(nbirth.p.metrics.every((m) => m.timestamp !== undefined && m.timestamp !== null)).toBe(true);
    const order = got.slice(0, 5).map((m) => `${m.topic.split('/')[2]}:${num(m.p.seq)}`);
    expect(order).toEqual(['NBIRTH:0', 'DBIRTH:1', 'DDATA:2', 'DDATA:3', 'DDATA:4']);
    expect(got.filter((m) => m.topic.includes('BIRTH') || m.topic.includes('/DDATA/')).every((m) => m.qos === 0)).toBe(true);
    expect(got.some((m) => m.topic.includes('/NDATA/'))).toBe(false);
    // Rebirth on request: the same session, so the same bdSeq; seq starts again at 0.
    await client.publishAsync('spBv1.0/plant1/NCMD/gw1', Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })));
    await until(() => got.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1').length === 2, 'the rebirth');
    const again = got.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')[1];
    expect(num(again.p.metrics.find((m) => m.name === 'bdSeq')!.value)).toBe(0);
    expect(num(again.p.seq)).toBe(0);
    const next = got[got.indexOf(again) + 1];
    expect([next.topic, num(next.p.seq)]).toEqual(['spBv1.0/plant1/DBIRTH/gw1/loop1', 1]);
    // The Will: NDEATH at QoS 1 with bdSeq alone and no seq.
    agent.kill();
    await until(() => got.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1'), 'the Will', 100);
    const death = got.find((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1')!;
    expect(death.qos).toBe(1);
    expect(death.p.metrics.map((m) => m.name)).toEqual(['bdSeq']);
    expect(death.p.seq === undefined || death.p.seq === null).toBe(true);
  }, 60_000);

  it('a DCMD carries only metrics its DBIRTH declared: edgeloop\'s command/* are declared writable, and a tag write of one without a command id is answered under its name', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const { core, until } = chamberAgent(broker.url);
    await until(() => host.seen.some((m) => m.topic.includes('/DBIRTH/')), 'DBIRTH');
    const birth = new Map(host.seen.find((m) => m.topic.includes('/DBIRTH/'))!.p.metrics.map((m) => [m.name, m]));
    for (const name of ['command/id', 'command/setpoint', 'command/mode', 'command/reset', 'command/hold', 'command/release', 'command/param',
      'command/deploy', 'command/signature', 'command/rollback']) {
      expect(birth.get(name)?.properties?.readOnly.value, name).toBe(false);
    }
    expect(birth.get('command/ack')!.properties!.readOnly.value).toBe(true);
    await write(host.client, [{ name: 'command/setpoint', type: 'Double', value: 75 }]);
    await until(() => acks(host.seen).includes('command/setpoint ok'), 'answered under its name');
    expect(core.setpoint).toBe(75);
    await write(host.client, [{ name: 'command/mode', type: 'String', value: 'panic' }]);
    await until(() => acks(host.seen).some((a) => a.startsWith('command/mode rejected: command/mode: expected one of')), 'a bad one refused under its name');
  }, 60_000);

  it('a host\'s write without a datatype (as Sparkplug recommends) takes the DBIRTH\'s; a rebirth beside a write does both; a STATE a day ahead is refused', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const { core, agent, until } = chamberAgent(broker.url);
    await until(() => host.seen.some((m) => m.topic.includes('/DBIRTH/')), 'DBIRTH');
    // A DCMD built without sparkplug-payload's datatype: setpoint as a double_value, nothing else.
    const bare = Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'setpoint', type: 'Double', value: 71 }] }));
    // Strip the datatype field (protobuf field 4 of the metric, varint 10 = Double): 0x20 0x0a.
    const i = bare.indexOf(Buffer.from([0x20, 0x0a]));
    expect(i).toBeGreaterThan(0);
    const metricLen = bare[bare.indexOf(0x12) + 1];
    const stripped = Buffer.concat([bare.subarray(0, bare.indexOf(0x12) + 1), Buffer.from([metricLen - 2]), bare.subarray(bare.indexOf(0x12) + 2, i), bare.subarray(i + 2)]);
    expect(tahu.decodePayload(stripped).metrics[0].type ?? null).not.toBe('Double');
    await host.client.publishAsync(dcmd, stripped);
    await until(() => acks(host.seen).includes('setpoint ok'), 'a write without a datatype applied');
    expect(core.setpoint).toBe(71);
    const births = () => host.seen.filter((m) => m.topic.includes('/DBIRTH/')).length;
    const before = births();
    await write(host.client, [{ name: 'held', type: 'Boolean', value: true }, { name: 'Device Control/Rebirth', type: 'Boolean', value: true }]);
    await until(() => births() === before + 1 && acks(host.seen).includes('held ok'), 'the rebirth and the write');
    await host.client.publishAsync('spBv1.0/STATE/nobody', 'x');
    // Not its primary host here (it has none): STATE handling is checked on an agent that has one.
    const watcher = chamberAgent(broker.url, { primaryHost: 'scada' }, 'gw5');
    await host.client.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online: true, timestamp: Date.now() + 2 * 86_400_000 }), { qos: 1, retain: true });
    await watcher.until(() => watcher.agent.stats.stateRejected === 1, 'refused');
    await host.client.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online: true, timestamp: Date.now() }), { qos: 1, retain: true });
    await watcher.until(() => host.seen.some((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw5'), 'born to the real host');
    expect(agent.stats.commandsRejected).toBe(0);
  }, 60_000);

  it('bdSeq is kept in a file: a restarted agent\'s session takes the next one, with the same client id', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const file = join(mkdtempSync(join(tmpdir(), 'edgeloop-bdseq-')), 'gw1.bdseq');
    const first = chamberAgent(broker.url, { bdSeqFile: file });
    await first.until(() => host.seen.some((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1'), 'first NBIRTH');
    const bd = (m: Seen) => num(m.p.metrics.find((x) => x.name === 'bdSeq')!.value);
    expect(bd(host.seen.find((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')!)).toBe(0);
    first.agent.kill();
    await first.until(() => host.seen.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1'), 'its Will', 100);
    expect(bd(host.seen.find((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1')!)).toBe(0);
    let replaced = '';
    const second = chamberAgent(broker.url, { bdSeqFile: file, onSuperseded: (m) => { replaced = m; } });
    await second.until(() => host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1').length === 2, 'second NBIRTH');
    expect(bd(host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')[1])).toBe(1);
    expect(readFileSync(file, 'utf8').trim()).toBe('1 plant1/gw1');
    // The file of another node is refused at start: each node has its own.
    expect(() => chamberAgent(broker!.url, { bdSeqFile: file }, 'gw9')).toThrow(/bdSeq file .*gw1\.bdseq: it belongs to node plant1\/gw1, not plant1\/gw9; give each node its own file/);
    // Deleted while it runs, then the broker restarts: no sign of a replacement; the next session writes it again.
    rmSync(file);
    await broker.kill();
    await second.until(() => second.agent.spoolLength > 5, 'offline', 200);
    await broker.restart();
    await second.until(() => host.client.connected && second.agent.spoolLength === 0, 'both back', 800);
    await wait(200);
    // The spy came back after the agent's births: it asks for them again.
    await host.client.publishAsync('spBv1.0/plant1/NCMD/gw1', Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })));
    await second.until(() => host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1').length === 3, 'its births', 800);
    expect(bd(host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')[2])).toBe(2);
    expect(replaced).toBe('');
    expect(readFileSync(file, 'utf8').trim()).toBe('2 plant1/gw1');
    // bdSeq wraps after 255: the session after 255 is 0.
    second.agent.kill();
    writeFileSync(file, '255\n');
    const third = chamberAgent(broker.url, { bdSeqFile: file });
    await third.until(() => host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1').length === 4, 'third agent\'s NBIRTH');
    expect(bd(host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1')[3])).toBe(0);
    // A file that is not a bdSeq is an error naming it, before anything connects.
    writeFileSync(file, 'twelve\n');
    expect(() => chamberAgent(broker!.url, { bdSeqFile: file })).toThrow(/bdSeq file .*gw1\.bdseq: expected the last session's bdSeq \(an integer 0\.\.255\) and its node, found "twelve"/);
  }, 60_000);

  it('STATE: an older timestamp is ignored; an offline STATE of the primary host ends the session with NDEATH; births come back with the host, the spool replayed once as history', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const state = (online: boolean, timestamp: number, id = 'scada') => host.client.publishAsync(`spBv1.0/STATE/${id}`, JSON.stringify({ online, timestamp }), { qos: 1, retain: true });
    const { agent, until } = chamberAgent(broker.url, { primaryHost: 'scada' });
    const nbirths = () => host.seen.filter((m) => m.topic === 'spBv1.0/plant1/NBIRTH/gw1');
    // No births before its primary host is online; another host's STATE is not its host's.
    await state(true, 2000, 'other-host');
    await until(() => agent.spoolLength >= 20, 'ticking and spooling, unborn');
    expect(nbirths()).toEqual([]);
    await state(true, 2000);
    await until(() => nbirths().length === 1, 'born to the online host');
    // A STATE older than the one seen (a late Will of an earlier host session): ignored.
    await state(false, 1000);
    await until(() => agent.stats.stateStale === 1, 'the stale STATE counted');
    const before = host.seen.filter((m) => m.topic.includes('/DDATA/')).length;
    await until(() => host.seen.filter((m) => m.topic.includes('/DDATA/')).length > before + 3, 'still publishing');
    expect(host.seen.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1')).toBe(false);

    // The host goes offline (newer timestamp): NDEATH, disconnect, a new session that waits.
    await state(false, 3000);
    await until(() => host.seen.some((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1'), 'NDEATH on the host\'s offline STATE');
    const death = host.seen.find((m) => m.topic === 'spBv1.0/plant1/NDEATH/gw1')!;
    expect(num(death.p.metrics.find((x) => x.name === 'bdSeq')!.value)).toBe(0);
    const lastLive = Math.max(...host.seen.filter((m) => m.topic.includes('/DDATA/')).map((m) => num(m.p.metrics.find((x) => x.name === 'sample')!.value)));
    const quiet = host.seen.length;
    await until(() => agent.spoolLength >= 20, 'spooling while the host is away');
    expect(host.seen.slice(quiet).filter((m) => m.topic.includes('/DDATA/') || m.topic.includes('BIRTH'))).toEqual([]);

    await state(true, 4000);
    await until(() => nbirths().length === 2 && agent.spoolLength === 0, 'births again, spool sent');
    expect(num(nbirths()[1].p.metrics.find((x) => x.name === 'bdSeq')!.value)).toBe(1);
    // Live data comes only after the whole spool (one connection keeps order): once one is here, the replay is all in.
    const sinceBirth = () => host.seen.slice(host.seen.indexOf(nbirths()[1]));
    await until(() => sinceBirth().some((m) => m.topic.includes('/DDATA/') && !m.p.metrics.some((x) => x.isHistorical)), 'live data after the replay');
    const after = sinceBirth();
    const history = after.filter((m) => m.topic.includes('/DDATA/') && m.p.metrics.every((x) => x.isHistorical === true));
    const samples = history.map((m) => num(m.p.metrics.find((x) => x.name === 'sample')!.value));
    // Replayed once each, in order, carrying what went out live just before the host left (a QoS 0 resend) and the spool.
    expect(new Set(samples).size).toBe(samples.length);
    expect(samples).toEqual([...samples].sort((a, b) => a - b));
    expect(samples.at(-1)! > lastLive).toBe(true);
    // No message mixes live and historical metrics.
    expect(after.filter((m) => m.topic.includes('/DDATA/')).every((m) => m.p.metrics.every((x) => x.isHistorical === true) || m.p.metrics.every((x) => !x.isHistorical))).toBe(true);
  }, 60_000);

  it('report by exception: a DDATA only when a metric moved past its deadband, with the sample number; everything at the longest silence', async () => {
    broker = await startBroker(KIND);
    const host = await spy(broker.url);
    const { until, clock } = chamberAgent(broker.url, { reportByException: { deadband: { measurement: 1000, output: 1000, predicted: 1000 }, maxIntervalMs: 3000 } });
    await until(() => host.seen.some((m) => m.topic.includes('/DBIRTH/')), 'DBIRTH');
    const t0 = clock.now;
    const data = () => host.seen.filter((m) => m.topic.includes('/DDATA/'));
    // Six seconds of a settled loop whose measurement never moves 1000 C: the full sample at 3 s and 6 s, next to nothing between.
    await until(() => clock.now - t0 >= 6_200_000, 'six seconds', 100);
    await wait(100);
    const full = data().filter((m) => m.p.metrics.some((x) => x.name === 'measurement'));
    expect(full.length).toBeGreaterThanOrEqual(1);
    expect(full.length).toBeLessThanOrEqual(3);
    for (const m of data()) expect(m.p.metrics.some((x) => x.name === 'sample')).toBe(true);
    // Far fewer messages than ticks (62 ticks), and never a measurement that did not move past its deadband between full reports.
    expect(data().length).toBeLessThan(30);
  }, 60_000);
});

describe('report by exception, the filter', () => {
  const sample = (n: number, measurement: number, mode = 'NOMINAL'): Metric[] => [
    { name: 'measurement', type: 'Double', value: measurement }, { name: 'mode', type: 'String', value: mode },
    { name: 'sample', type: 'UInt64', value: n }, { name: 'tick_us', type: 'UInt64', value: n * 100_000 }];
  it('a metric goes when it moved past its deadband since it was last reported (not since the last sample); a string on any change; all at the longest silence', () => {
    const f = new Exceptions({ deadband: { measurement: 0.5 }, maxIntervalMs: 1000 });
    f.reported(sample(0, 50), 0);
    expect(f.filter(sample(1, 50.3), 100_000)).toBeNull();
    // 50.3 then 50.6: each step under the deadband, but 0.6 from what was reported.
    expect(f.filter(sample(2, 50.6), 200_000)?.map((m) => m.name)).toEqual(['measurement', 'sample', 'tick_us']);
    expect(f.filter(sample(3, 50.9), 300_000)).toBeNull();
    expect(f.filter(sample(4, 50.9, 'DEGRADED'), 400_000)?.map((m) => m.name)).toEqual(['mode', 'sample', 'tick_us']);
    // A full report at the longest silence (1 s after the last one, at t = 0).
    expect(f.filter(sample(10, 50.9, 'DEGRADED'), 1_000_000)?.map((m) => m.name)).toEqual(['measurement', 'mode', 'sample', 'tick_us']);
    expect(f.filter(sample(11, 50.9, 'DEGRADED'), 1_100_000)).toBeNull();
  });
});
