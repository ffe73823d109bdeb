// A coordinator that tolerates edge nodes edgeloop did not write (issue 12,
// part 5 and the first interop test of part 6). Payloads are written with
// Eclipse Tahu's encoder (and, for what it cannot write, a metric without a
// datatype, with protobuf straight from Tahu's .proto classes), and what the
// coordinator sends is read back with Tahu's decoder, not edgeloop's codec.
//
//   codec: the tolerant decoder skips one metric it cannot take and reads
//     the rest; the strict one still refuses the whole payload
//   coordinator (embedded aedes): aliases and datatypes from the birth, a
//     foreign device tracked and never judged as a loop, history recorded
//     but never shown live, data after a death answered with a rebirth
//     request (rate-limited) instead of an online device
//   interop (real Mosquitto): Tahu's sparkplug-client as a foreign edge node
//     with a device; the coordinator discovers it, records its data, sees
//     its device's death and its node's death, and asks for a rebirth when
//     data comes after either
//
// Loopback only, bounded in time; the coordinator runs on a clock the test
// advances, and nothing asserts how long anything took.
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { decodePayload, decodePayloadTolerant, encodePayload, METRICS_MAX, PayloadError, type Payload } from '../../host/mqtt/codec.js';
import { Coordinator, REBIRTH_INTERVAL_MS } from '../../host/coordinator/coordinator.js';
import { MOSQUITTO_MISSING, startBroker, wait, type TestBroker } from '../support/brokers.js';

const requireCjs = createRequire(import.meta.url);

type TahuMetric = { name?: string; alias?: number; type?: string; value: unknown; isHistorical?: boolean; timestamp?: number };
type TahuPayload = { timestamp?: unknown; seq?: number; metrics?: TahuMetric[] };
const tahu = (requireCjs('sparkplug-payload') as { get(ns: string): { encodePayload(p: TahuPayload): Uint8Array; decodePayload(b: Uint8Array): TahuPayload } })
  .get('spBv1.0');
/** Protobuf as the wire has it, from Tahu's own .proto classes: a metric without a datatype, which Tahu's encoder cannot write. */
const Proto = (requireCjs('sparkplug-payload/lib/sparkplugPayloadProto') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { encode(p: unknown): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;

const enc = (p: TahuPayload) => Buffer.from(tahu.encodePayload(p));
const wire = (p: unknown) => Buffer.from(Proto.encode(p).finish());
/** Sparkplug B datatype codes used below. */
const DT = { Int32: 3, Int64: 4, Double: 10, String: 12 } as const;

// ---------------------------------------------------------------------------
// The codec

describe('the tolerant decoder (the coordinator\'s) and the strict one (commands)', () => {
  const T = 1_763_860_000_000;

  it('skips a Template, a DataSet, Bytes, a null, NaN and a nameless, aliasless metric one by one, counted with why; reads the rest', () => {
    const bytes = enc({ timestamp: T, seq: 3, metrics: [
      { name: 'speed', type: 'Int32', value: -7 },
      { name: 'recipe', alias: 4, type: 'Template', value: { templateRef: 'Recipe', isDefinition: false, metrics: [{ name: 'step', type: 'Int32', value: 1 }] } },
      { name: 'table', type: 'DataSet', value: { numOfColumns: 1, columns: ['a'], types: ['Double'], rows: [[1.5]] } },
      { name: 'blob', type: 'Bytes', value: Buffer.from([1, 2, 3]) },
      { name: 'status', alias: 5, type: 'Int32', value: null },
      { name: 'noise', type: 'Double', value: Number.NaN },
      { type: 'Double', value: 1 },
      { name: 'label', type: 'String', value: 'P-101' },
    ] });
    const d = decodePayloadTolerant(bytes);
    expect(d.payload).toMatchObject({ timestamp: T, seq: 3 });
    expect(d.payload.metrics).toEqual([{ name: 'speed', type: 'Int32', value: -7 }, { name: 'label', type: 'String', value: 'P-101' }]);
    expect(d.skipped).toBe(6);
    expect(d.skippedMetrics.map((s) => [s.name ?? null, s.alias ?? null, s.type ?? null])).toEqual([
      ['recipe', 4, 'Template'], ['table', null, 'DataSet'], ['blob', null, 'Bytes'], ['status', 5, 'Int32'], ['noise', null, 'Double'], [null, null, 'Double']]);
    expect(d.skippedMetrics[3].why).toMatch(/null \(is_null\)/);
    expect(d.skippedMetrics[4].why).toBe('expected a finite number, received NaN');
    expect(d.skippedMetrics[5].why).toBe('expected a name or an alias, received neither');
    // The strict decoder refuses the same payload whole, naming the first metric it cannot take.
    expect(() => decodePayload(bytes)).toThrow(/payload\.metrics\[1\]\.value: expected a number, boolean or string, received a Template/);
  });

  it('keeps an alias alone (no name) and a metric without a datatype; the birth\'s datatype reads its value signed', () => {
    const bytes = wire({ timestamp: T, metrics: [
      { alias: 11, longValue: -9 },                       // an Int64 -9, no datatype: two's complement in the uint64 field
      { alias: 12, datatype: DT.Int64, longValue: -9 },   // with its datatype
      { name: 'count', intValue: 5 },                     // a name, no datatype
    ] });
    const bare = decodePayloadTolerant(bytes);
    expect(bare.skipped).toBe(0);
    expect(bare.payload.metrics[0]).toEqual({ alias: 11, value: 2 ** 64 - 9 });   // unsigned, as far as anyone can tell
    expect(bare.payload.metrics[1]).toEqual({ alias: 12, type: 'Int64', value: -9 });
    expect(bare.payload.metrics[2]).toEqual({ name: 'count', value: 5 });
    // The birth said alias 11 is an Int64: -9.
    const born = decodePayloadTolerant(bytes, { declared: (name, alias) => (alias === 11 ? 'Int64' : name === 'count' ? 'UInt32' : undefined) });
    expect(born.payload.metrics.map((m) => [m.type, m.value])).toEqual([['Int64', -9], ['Int64', -9], ['UInt32', 5]]);
    // The strict decoder wants a name and a datatype.
    expect(() => decodePayload(bytes)).toThrow(/payload\.metrics\[0\]\.name: expected a string/);
    expect(() => decodePayload(wire({ timestamp: T, metrics: [{ name: 'count', intValue: 5 }] }))).toThrow(/payload\.metrics\[0\]\.value: .*no datatype/);
  });

  it('reads narrow signed integers in either width, UInt64 beyond 2^53 approximately; an Int32 without a value is no 0', () => {
    const d = decodePayloadTolerant(wire({ timestamp: T, metrics: [
      { name: 'a', datatype: 1, intValue: 247 },          // Int8 -9, in its own width
      { name: 'b', datatype: 1, intValue: 4294967287 },   // Int8 -9, in 32 bits (Tahu's encoder)
      { name: 'c', datatype: 2, intValue: 65535 },        // Int16 -1
      { name: 'd', datatype: 8, longValue: 2 ** 60 + 1 }, // UInt64 beyond 2^53
      { name: 'e', datatype: DT.Int32 },                  // no value at all
    ] }));
    expect(d.payload.metrics.map((m) => m.value)).toEqual([-9, -9, -1, 2 ** 60]);
    expect(d.skippedMetrics).toMatchObject([{ name: 'e', why: 'expected a number, boolean or string, received no value' }]);
    // Tahu's own decoder reads that Int32 as 0: the strict decoder refuses it (a command must not set anything to 0 by omission).
    expect(tahu.decodePayload(wire({ timestamp: T, metrics: [{ name: 'command/setpoint', datatype: DT.Int32 }] })).metrics![0].value).toBe(0);
    expect(() => decodePayload(wire({ timestamp: T, metrics: [{ name: 'command/setpoint', datatype: DT.Int32 }] }))).toThrow(PayloadError);
  });

  it('the whole payload is still refused for what is wrong with it as a whole', () => {
    expect(() => decodePayloadTolerant(Buffer.from([0xff, 0x01, 0x02]))).toThrow(/not a Sparkplug B payload/);
    expect(() => decodePayloadTolerant(enc({ timestamp: T, seq: 300, metrics: [] }))).toThrow(/payload\.seq: expected 0\.\.255, received 300/);
    expect(() => decodePayloadTolerant(wire({ metrics: [] }))).toThrow(/payload\.timestamp/);
    const many = Array.from({ length: METRICS_MAX + 1 }, (_, i) => ({ name: `x${i}`, type: 'Boolean', value: true }));
    expect(() => decodePayloadTolerant(enc({ timestamp: T, metrics: many }))).toThrow(new RegExp(`at most ${METRICS_MAX} metrics`));
  });

  it('historical, alias and a per-metric timestamp round-trip; without them the bytes are what Tahu writes', () => {
    const p: Payload = { timestamp: T, seq: 7, metrics: [
      { name: 'measurement', type: 'Double', value: 79.5, timestamp: T - 1500, historical: true, alias: 3 },
      { name: 'measurement', type: 'Double', value: 80, timestamp: T },
      { name: 'mode', type: 'String', value: 'NOMINAL' },
    ] };
    const bytes = encodePayload(p);
    expect(decodePayload(bytes)).toEqual(p);
    expect(decodePayloadTolerant(bytes).payload).toEqual(p);
    // Another decoder reads the flag as Sparkplug's is_historical.
    expect(tahu.decodePayload(bytes).metrics![0]).toMatchObject({ isHistorical: true, name: 'measurement' });
    const plain: Payload = { timestamp: T, seq: 1, metrics: [{ name: 'setpoint', type: 'Double', value: 50 }, { name: 'held', type: 'Boolean', value: false }] };
    expect(Buffer.from(encodePayload(plain))).toEqual(enc(plain));
    expect(decodePayload(encodePayload(plain)).metrics[0]).toEqual({ name: 'setpoint', type: 'Double', value: 50 });
  });
});

// ---------------------------------------------------------------------------
// The coordinator, on the embedded aedes

let aedes: EmbeddedBroker | null = null;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of closers.splice(0).reverse()) await f().catch(() => {});
  await aedes?.close();
  aedes = null;
});

/** A coordinator on a clock the test moves, a publisher, and a spy that reads what the coordinator sends with Tahu's decoder. */
async function rig(url: string, opts: Partial<ConstructorParameters<typeof Coordinator>[0]> = {}) {
  const clock = { ms: 1_763_860_000_000 };
  const data: { key: string; payload: Payload }[] = [];
  const coord = new Coordinator({ broker: url, hostId: 'interop1', clockMs: () => clock.ms, onData: (key, payload) => data.push({ key, payload }), ...opts });
  closers.push(() => coord.stop());
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  closers.push(() => pub.endAsync());
  const spy = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  closers.push(() => spy.endAsync());
  const ncmds: { topic: string; payload: TahuPayload }[] = [];
  let online = false;
  // The spy hears everything the coordinator hears (node and device topics: its own commands too; its own STATE unless passive).
  let heard = 0;
  spy.on('message', (topic, payload) => {
    const levels = topic.split('/').length;
    if (levels === 4 || levels === 5 || (topic === 'spBv1.0/STATE/interop1' && !opts.passive)) heard++;
    if (topic.includes('/NCMD/')) ncmds.push({ topic, payload: tahu.decodePayload(payload) });
    if (topic === 'spBv1.0/STATE/interop1' && JSON.parse(payload.toString()).online === true) online = true;
  });
  await spy.subscribeAsync('spBv1.0/#', { qos: 1 });
  /** Turn the coordinator's cycle until `pred` holds (bounded). */
  const until = async (pred: () => boolean, what: string) => {
    for (let i = 0; i < 250 && !pred(); i++) { await wait(20); coord.cycle(); }
    expect(pred(), what).toBe(true);
  };
  // Subscribed before it says it is online (a passive one says nothing: its subscription is given a moment).
  if (opts.passive) { await until(() => coord.link.connected, 'connected'); await wait(200); } else await until(() => online, 'the STATE online');
  /** Publish in order (QoS 1); once the coordinator has received all the spy has, one cycle takes them in. */
  const send = async (...msgs: [string, Buffer][]) => {
    const before = heard;
    for (const [topic, bytes] of msgs) await pub.publishAsync(topic, bytes, { qos: 1 });
    for (let i = 0; i < 250 && !(heard >= before + msgs.length && coord.link.messages === heard); i++) await wait(10);
    expect(coord.link.messages, 'the coordinator received what the spy did').toBe(heard);
    coord.cycle();
  };
  return { coord, clock, data, ncmds, send, until, pub };
}

const loopBirth = (extra: TahuMetric[] = []): Buffer => enc({ timestamp: 1, metrics: [
  { name: 'mode', type: 'String', value: 'NOMINAL' }, { name: 'setpoint', type: 'Double', value: 50 }, { name: 'measurement', type: 'Double', value: 49 },
  { name: 'core_version', type: 'String', value: 'builtin' }, { name: 'guard/status', type: 'Int32', value: 0 }, ...extra] });

describe('a coordinator reading edge nodes it did not write (embedded aedes)', () => {
  it('names alias-only metrics from the birth and reads them with its datatypes; what it cannot read is skipped and counted; a foreign `mode` AUTO is tracked, not judged', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url);
    await r.send(
      ['spBv1.0/acme/NBIRTH/plc1', enc({ timestamp: 1, seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 300 }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }] })],
      ['spBv1.0/acme/DBIRTH/plc1/pump', enc({ timestamp: 2, seq: 1, metrics: [
        { name: 'mode', alias: 1, type: 'String', value: 'AUTO' },
        { name: 'offset', alias: 2, type: 'Int64', value: -3 },
        { name: 'temp', alias: 3, type: 'Double', value: 20 },
        { name: 'recipe', alias: 4, type: 'Template', value: { templateRef: 'Recipe', isDefinition: false, metrics: [] } },
        { name: 'status', alias: 5, type: 'Int32', value: null },
      ] })],
      // Data by alias only; two without a datatype (the birth has it); a Template; an alias nobody declared.
      ['spBv1.0/acme/DDATA/plc1/pump', wire({ timestamp: 3, seq: 2, metrics: [
        { alias: 2, longValue: -9 }, { alias: 3, datatype: DT.Double, doubleValue: 21.5 }, { alias: 5, intValue: 7 },
        { alias: 4, datatype: 19, templateValue: { metrics: [] } }, { alias: 42, datatype: DT.Double, doubleValue: 1 },
        { alias: 1, datatype: DT.String, stringValue: 'MANUAL' }] })],
    );
    const pump = r.coord.agents.get('acme/plc1/pump')!;
    expect(pump).toMatchObject({ kind: 'foreign', health: 'online', mode: '?', coreVersion: '?', bdSeq: 300, birthMetrics: 5, dependsOn: [] });
    expect(r.coord.nodes.get('acme/plc1')).toMatchObject({ health: 'online', bdSeq: 300, birthMetrics: 2, devices: 1 });
    // Birth: the Template and the null (2); data: the Template and alias 42 (2). No message refused.
    expect(r.coord.rejected).toMatchObject({ malformed: 0, skippedMetrics: 4, unborn: 0 });
    expect(r.data).toHaveLength(1);
    expect(r.data[0].key).toBe('acme/plc1/pump');
    expect(r.data[0].payload.metrics.map((m) => [m.name, m.type, m.value])).toEqual([
      ['offset', 'Int64', -9], ['temp', 'Double', 21.5], ['status', 'Int32', 7], ['mode', 'String', 'MANUAL']]);
    // It is no loop of edgeloop's: no edgeloop command goes to it.
    expect(() => r.coord.command('acme/plc1/pump', { kind: 'setpoint', value: 1 })).toThrow(/'acme\/plc1\/pump' is a foreign device .*no edgeloop commands/);
    // Contrapositive: the same `mode` AUTO from a device whose birth says it is an edgeloop loop makes its message malformed.
    await r.send(['spBv1.0/acme/DBIRTH/plc1/loop', loopBirth()], ['spBv1.0/acme/DDATA/plc1/loop', enc({ timestamp: 4, metrics: [{ name: 'mode', type: 'String', value: 'AUTO' }] })]);
    expect(r.coord.agents.get('acme/plc1/loop')).toMatchObject({ kind: 'edgeloop', mode: 'NOMINAL' });
    expect(r.coord.rejected.malformed).toBe(1);
    expect(r.coord.lastRejection).toMatch(/DDATA\/plc1\/loop: metric 'mode': expected one of NOMINAL, DEGRADED, FALLBACK, SAFE_STOP, received "AUTO"/);
  });

  it('historical values are recorded but never shown live; an acknowledgement is read whenever it comes', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url, { contain: false });
    await r.send(['spBv1.0/plant1/NBIRTH/gw1', enc({ timestamp: 1, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] })], ['spBv1.0/plant1/DBIRTH/gw1/loop', loopBirth()]);
    const view = r.coord.agents.get('plant1/gw1/loop')!;
    const data = (metrics: TahuMetric[]) => ['spBv1.0/plant1/DDATA/gw1/loop', enc({ timestamp: 5, metrics })] as [string, Buffer];
    // A replayed sample (is_historical) and a live one in the same message: the live one shows.
    await r.send(data([{ name: 'setpoint', type: 'Double', value: 60, isHistorical: true, timestamp: 3 }, { name: 'setpoint', type: 'Double', value: 55, timestamp: 5 }]));
    expect(view.setpoint).toBe(55);
    // History only: recorded, the view untouched (mode, setpoint, the guard's trip).
    await r.send(data([{ name: 'setpoint', type: 'Double', value: 70, isHistorical: true }, { name: 'mode', type: 'String', value: 'FALLBACK', isHistorical: true },
      { name: 'trip', type: 'Boolean', value: true, isHistorical: true }]));
    expect(view).toMatchObject({ setpoint: 55, mode: 'NOMINAL', tripped: false });
    expect(r.data.at(-1)!.payload.metrics).toEqual([
      { name: 'setpoint', type: 'Double', value: 70, historical: true }, { name: 'mode', type: 'String', value: 'FALLBACK', historical: true },
      { name: 'trip', type: 'Boolean', value: true, historical: true }]);
    // A command answered while the link was down: its ack comes back as history, and still answers it.
    const c = r.coord.command('plant1/gw1/loop', { kind: 'setpoint', value: 65 });
    await r.send(data([{ name: 'command/ack', type: 'String', value: `${c.id} ok`, isHistorical: true }]));
    expect(c).toMatchObject({ state: 'acked', detail: 'ok' });
  });

  it('a gap in a node\'s seq not filled within the Reorder Timeout asks for a rebirth; one filled late (out of order) does not', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url, { reorderTimeoutMs: 2000 });
    const nbirth = (node: string) => ['spBv1.0/acme/NBIRTH/' + node, enc({ timestamp: 1, seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] })] as [string, Buffer];
    const ndata = (node: string, seq: number) => ['spBv1.0/acme/NDATA/' + node, enc({ timestamp: 2, seq, metrics: [{ name: 'x', type: 'Int32', value: seq }] })] as [string, Buffer];
    // 0, 1, 3, 2: the 2 came late, within the timeout.
    await r.send(nbirth('inorder'), ndata('inorder', 1), ndata('inorder', 3), ndata('inorder', 2));
    // 0, 1, 3: the 2 never comes.
    await r.send(nbirth('lossy'), ndata('lossy', 1), ndata('lossy', 3));
    r.clock.ms += 1999;
    r.coord.cycle();
    expect(r.coord.seqGaps).toBe(0);
    r.clock.ms += 1;
    r.coord.cycle();
    await r.until(() => r.ncmds.length === 1, 'a rebirth request to the node that lost a message');
    expect(r.ncmds.map((m) => m.topic)).toEqual(['spBv1.0/acme/NCMD/lossy']);
    expect(r.coord.seqGaps).toBe(1);
    // A gap soon after a rebirth request to the same node waits for the next request it may send, and is not forgotten.
    await r.send(nbirth('lossy'), ndata('lossy', 1), ndata('lossy', 4));
    r.clock.ms += 2000;
    r.coord.cycle();
    expect(r.coord.seqGaps).toBe(1);
    r.clock.ms += REBIRTH_INTERVAL_MS;
    r.coord.cycle();
    await r.until(() => r.ncmds.length === 2, 'the second request, once the interval allows it');
    expect(r.coord.seqGaps).toBe(2);
    // seq wraps at 255 without a gap.
    await r.send(nbirth('wraps'), ...Array.from({ length: 258 }, (_, i) => ndata('wraps', (i + 1) & 0xff)));
    r.clock.ms += 5000;
    r.coord.cycle();
    expect(r.coord.seqGaps).toBe(2);
  }, 30_000);

  it('a bdSeq is any non-negative integer, or none; a node with NDATA only is tracked; data after its death is not read and asks for a rebirth, at most once per interval', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url);
    const ndata = (node: string) => ['spBv1.0/acme/NDATA/' + node, wire({ timestamp: 9, metrics: [{ alias: 1, longValue: 2 }] })] as [string, Buffer];
    // An NBIRTH without a bdSeq, its one metric aliased; then NDATA by alias.
    await r.send(['spBv1.0/acme/NBIRTH/rtu1', enc({ timestamp: 1, metrics: [{ name: 'uptime_s', alias: 1, type: 'Int64', value: 1 }] })]);
    expect(r.coord.nodes.get('acme/rtu1')).toMatchObject({ health: 'online', bdSeq: null, birthMetrics: 1, devices: 0 });
    // Silent past staleMs (3 s by the coordinator's clock) -> stale; its NDATA -> online again, seen now.
    r.clock.ms += 3500;
    r.coord.cycle();
    expect(r.coord.nodes.get('acme/rtu1')!.health).toBe('stale');
    await r.send(ndata('rtu1'));
    expect(r.coord.nodes.get('acme/rtu1')).toMatchObject({ health: 'online', lastSeenMs: r.clock.ms });
    expect(r.coord.rejected.skippedMetrics).toBe(0);
    expect(r.coord.agents.size).toBe(0);

    // Its NDEATH (no bdSeq either) -> dead. Data after it: not read, a rebirth asked (read here with Tahu's decoder).
    await r.send(['spBv1.0/acme/NDEATH/rtu1', enc({ timestamp: 10, metrics: [] })]);
    expect(r.coord.nodes.get('acme/rtu1')).toMatchObject({ health: 'dead', offlineSinceMs: r.clock.ms });
    await r.send(ndata('rtu1'));
    await r.until(() => r.ncmds.length === 1, 'a rebirth request');
    expect(r.ncmds[0]).toMatchObject({ topic: 'spBv1.0/acme/NCMD/rtu1', payload: { metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] } });
    expect(r.coord.nodes.get('acme/rtu1')!.health).toBe('dead');
    // More data at once: not asked again within REBIRTH_INTERVAL_MS ...
    await r.send(ndata('rtu1'), ndata('rtu1'));
    expect(r.coord.rejected.unborn).toBe(3);
    expect(r.coord.rebirths).toEqual({ requested: 1, limited: 2 });
    // ... and once it has passed, asked again; still dead until a birth comes.
    r.clock.ms += REBIRTH_INTERVAL_MS;
    await r.send(ndata('rtu1'));
    await r.until(() => r.ncmds.length === 2, 'a second rebirth request');
    expect(r.coord.nodes.get('acme/rtu1')!.health).toBe('dead');
    await r.send(['spBv1.0/acme/NBIRTH/rtu1', enc({ timestamp: 11, metrics: [{ name: 'uptime_s', alias: 1, type: 'Int64', value: 1 }] })]);
    expect(r.coord.nodes.get('acme/rtu1')!.health).toBe('online');

    // A bdSeq over 255 (Int64) is a session like any other: another session's death is ignored, its own kills it.
    await r.send(['spBv1.0/acme/NBIRTH/rtu2', enc({ timestamp: 1, metrics: [{ name: 'bdSeq', type: 'Int64', value: 2 ** 40 }] })],
      ['spBv1.0/acme/NDEATH/rtu2', enc({ timestamp: 2, metrics: [{ name: 'bdSeq', type: 'Int64', value: 5 }] })]);
    expect(r.coord.nodes.get('acme/rtu2')).toMatchObject({ health: 'online', bdSeq: 2 ** 40 });
    expect(r.coord.rejected.staleDeaths).toBe(1);
    await r.send(['spBv1.0/acme/NDEATH/rtu2', enc({ timestamp: 3, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 2 ** 40 }] })]);
    expect(r.coord.nodes.get('acme/rtu2')!.health).toBe('dead');
    // A negative bdSeq is no session's: the message is malformed.
    await r.send(['spBv1.0/acme/NBIRTH/rtu3', enc({ timestamp: 1, metrics: [{ name: 'bdSeq', type: 'Int64', value: -1 }] })]);
    expect(r.coord.nodes.has('acme/rtu3')).toBe(false);
    expect(r.coord.lastRejection).toMatch(/NBIRTH\/rtu3: metric 'bdSeq': expected a non-negative integer, received -1/);

    // DDATA from a device never born: not tracked, its node asked for a rebirth.
    await r.send(['spBv1.0/acme/DDATA/rtu4/dev', enc({ timestamp: 1, metrics: [{ name: 'x', type: 'Double', value: 1 }] })]);
    await r.until(() => r.ncmds.some((n) => n.topic === 'spBv1.0/acme/NCMD/rtu4'), 'a rebirth request to rtu4');
    expect(r.coord.agents.has('acme/rtu4/dev')).toBe(false);
    expect(r.coord.rejected.malformed).toBe(1);
  });

  it('a foreign device takes no part in containment; an edgeloop loop that dies gets its dependent held', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url);
    // B is an edgeloop loop that depends on a foreign device F and on an edgeloop loop A.
    await r.send(
      ['spBv1.0/line/DBIRTH/plc/f', enc({ timestamp: 1, metrics: [{ name: 'mode', type: 'String', value: 'AUTO' }, { name: 'flow', type: 'Double', value: 3 }] })],
      ['spBv1.0/line/DBIRTH/gwA/loop', loopBirth()],
      ['spBv1.0/line/DBIRTH/gwB/loop', loopBirth([{ name: 'depends_on', type: 'String', value: 'line/plc/f,line/gwA/loop' }])],
    );
    expect(r.coord.agents.get('line/gwB/loop')!.dependsOn).toEqual(['line/plc/f', 'line/gwA/loop']);
    // F dies: nothing is contained for it.
    await r.send(['spBv1.0/line/DDEATH/plc/f', enc({ timestamp: 2, metrics: [] })]);
    // Dead since the time its edge node says.
    expect(r.coord.agents.get('line/plc/f')).toMatchObject({ health: 'dead', offlineSinceMs: 2 });
    for (let i = 0; i < 5; i++) r.coord.cycle();
    expect(r.coord.decisions).toHaveLength(0);
    expect(r.coord.agents.get('line/gwB/loop')!.held).toBe(false);
    // Contrapositive: A dies -> B is held.
    await r.send(['spBv1.0/line/DDEATH/gwA/loop', enc({ timestamp: 3, metrics: [] })]);
    expect(r.coord.decisions).toHaveLength(1);
    expect(r.coord.decisions[0]).toMatchObject({ agent: 'line/gwB/loop', action: 'hold' });
    expect(r.coord.decisions[0].reason).toMatch(/^line\/gwA\/loop left control \(dead\)/);
  });

  it('a passive observer cannot ask for a birth: it takes a device up from its data, and an edgeloop loop from the metrics it carries', async () => {
    aedes = await startEmbeddedBroker();
    const r = await rig(aedes.url, { passive: true });
    await r.send(['spBv1.0/plant1/DDATA/gw1/loop', loopBirth()], ['spBv1.0/acme/DDATA/plc1/pump', enc({ timestamp: 1, metrics: [{ name: 'mode', type: 'String', value: 'AUTO' }] })]);
    expect(r.coord.agents.get('plant1/gw1/loop')).toMatchObject({ kind: 'edgeloop', health: 'online', mode: 'NOMINAL', birthMetrics: 0 });
    expect(r.coord.agents.get('acme/plc1/pump')).toMatchObject({ kind: 'foreign', health: 'online', mode: '?' });
    expect(r.ncmds).toHaveLength(0);
    expect(r.coord.rejected).toMatchObject({ malformed: 0, unborn: 0 });
  });
});

// ---------------------------------------------------------------------------
// Interop: Eclipse Tahu's edge client on a real Mosquitto

interface TahuClient {
  on(event: 'birth' | 'connect' | 'close', listener: () => void): TahuClient;
  on(event: 'error', listener: (err: Error) => void): TahuClient;
  on(event: 'ncmd', listener: (payload: TahuPayload) => void): TahuClient;
  publishNodeBirth(p: TahuPayload): void;
  publishNodeData(p: TahuPayload): void;
  publishDeviceBirth(device: string, p: TahuPayload): void;
  publishDeviceData(device: string, p: TahuPayload): void;
  publishDeviceDeath(device: string, p: TahuPayload): void;
  stop(): void;
}
const sparkplugClient = requireCjs('sparkplug-client') as { newClient(config: Record<string, unknown>): TahuClient };

let mosquitto: TestBroker | null = null;
afterEach(async () => { await mosquitto?.close(); mosquitto = null; });

/** What the foreign device declares: named and aliased metrics of several datatypes, one the coordinator cannot read, and its own `mode`. */
const pumpBirth = (): TahuPayload => ({ timestamp: Date.now(), metrics: [
  { name: 'speed_rpm', alias: 10, type: 'Int32', value: 1200 },
  { name: 'offset', alias: 11, type: 'Int64', value: -9 },
  { name: 'pressure_bar', alias: 12, type: 'Float', value: 2.5 },
  { name: 'flow_m3h', alias: 13, type: 'Double', value: 12.75 },
  { name: 'running', alias: 14, type: 'Boolean', value: true },
  { name: 'tag', alias: 15, type: 'String', value: 'P-101' },
  { name: 'mode', alias: 16, type: 'String', value: 'AUTO' },
  { name: 'recipe', alias: 17, type: 'DataSet', value: { numOfColumns: 2, columns: ['step', 'temp'], types: ['Int32', 'Double'], rows: [[1, 20.5]] } },
  { name: 'serial', type: 'String', value: 'SN-0042' },
] });

/** Its data: by alias only (the named one by name), the DataSet again, and an alias its birth never declared. */
const pumpData = (): TahuPayload => ({ timestamp: Date.now(), metrics: [
  { alias: 10, type: 'Int32', value: 1250 },
  { alias: 11, type: 'Int64', value: -9 },
  { alias: 12, type: 'Float', value: 2.75 },
  { alias: 13, type: 'Double', value: 13.5 },
  { alias: 14, type: 'Boolean', value: false },
  { alias: 15, type: 'String', value: 'P-101' },
  { alias: 16, type: 'String', value: 'AUTO' },
  { alias: 17, type: 'DataSet', value: { numOfColumns: 2, columns: ['step', 'temp'], types: ['Int32', 'Double'], rows: [[2, 21]] } },
  { name: 'serial', type: 'String', value: 'SN-0042' },
  { alias: 99, type: 'Int32', value: 1 },
] });

describe.skipIf(MOSQUITTO_MISSING.length > 0)('interop: Eclipse Tahu\'s sparkplug-client as a foreign edge node (real Mosquitto)', () => {
  it('the coordinator discovers its node and device, records its data by name, sees the device\'s and the node\'s death, and asks for a rebirth when data comes after either', async () => {
    mosquitto = await startBroker('mosquitto');
    const r = await rig(mosquitto.url);
    const births: string[] = [];
    const heard: TahuPayload[] = [];
    const edge = sparkplugClient.newClient({ serverUrl: mosquitto.url, username: 'tahu', password: 'tahu', groupId: 'tahu', edgeNode: 'edge1',
      clientId: `tahu-edge1-${process.pid}`, version: 'spBv1.0', publishDeath: true, mqttOptions: { reconnectPeriod: 0 } });
    let stopped = false;
    closers.push(async () => { if (!stopped) edge.stop(); });
    edge.on('error', () => {});
    // What a Tahu application does on 'birth': its node's birth (sparkplug-client adds bdSeq), then its device's.
    const birth = () => {
      edge.publishNodeBirth({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'uptime_s', alias: 1, type: 'Int64', value: 1 }] });
      edge.publishDeviceBirth('pump1', pumpBirth());
      births.push('birth');
    };
    edge.on('birth', birth);
    // The node hears the coordinator's rebirth requests (decoded by Tahu's client); the test answers them when it chooses.
    edge.on('ncmd', (p) => heard.push(p));
    const pump = () => r.coord.agents.get('tahu/edge1/pump1');
    await r.until(() => pump()?.health === 'online' && r.coord.nodes.get('tahu/edge1')?.health === 'online', 'the Tahu node and its device discovered');
    expect(r.coord.nodes.get('tahu/edge1')).toMatchObject({ bdSeq: 0, birthMetrics: 3, devices: 1 });
    expect(pump()).toMatchObject({ kind: 'foreign', mode: '?', birthMetrics: 9 });
    // Birth: the DataSet skipped (1).
    expect(r.coord.rejected).toMatchObject({ malformed: 0, skippedMetrics: 1 });

    // Its data, by alias: recorded under the birth's names, -9 as -9; the DataSet and alias 99 skipped (2 more); nothing refused.
    edge.publishDeviceData('pump1', pumpData());
    edge.publishNodeData({ timestamp: Date.now(), metrics: [{ alias: 1, type: 'Int64', value: 2 }] });
    await r.until(() => r.data.length === 1 && r.coord.rejected.skippedMetrics === 3, 'its DDATA recorded');
    const got = Object.fromEntries(r.data[0].payload.metrics.map((m) => [m.name, m.value]));
    expect(r.data[0].key).toBe('tahu/edge1/pump1');
    expect(got).toEqual({ speed_rpm: 1250, offset: -9, pressure_bar: 2.75, flow_m3h: 13.5, running: false, tag: 'P-101', mode: 'AUTO', serial: 'SN-0042' });
    expect(r.data[0].payload.metrics.find((m) => m.name === 'offset')!.type).toBe('Int64');
    expect(r.coord.rejected.malformed).toBe(0);
    expect(pump()).toMatchObject({ health: 'online', mode: '?' });

    // The device dies (DDEATH), then its data comes anyway: not read, not online; its node is asked for a rebirth.
    edge.publishDeviceDeath('pump1', { timestamp: Date.now() });
    await r.until(() => pump()!.health === 'dead', 'DDEATH seen');
    edge.publishDeviceData('pump1', pumpData());
    await r.until(() => heard.length === 1 && r.ncmds.length === 1, 'the Tahu node hears a rebirth request');
    expect(heard[0].metrics).toEqual([expect.objectContaining({ name: 'Node Control/Rebirth', type: 'Boolean', value: true })]);
    expect(r.ncmds[0].topic).toBe('spBv1.0/tahu/NCMD/edge1');
    expect(r.coord.rejected.unborn).toBe(1);
    expect(r.data).toHaveLength(1);
    expect(pump()!.health).toBe('dead');
    // It answers with its births: online again.
    birth();
    await r.until(() => pump()!.health === 'online', 'reborn');

    // The node stops (sparkplug-client publishes its NDEATH): node and device dead.
    edge.stop();
    stopped = true;
    await r.until(() => r.coord.nodes.get('tahu/edge1')!.health === 'dead' && pump()!.health === 'dead', 'NDEATH seen');
    // sparkplug-client publishes nothing once stopped: a late DDATA of the dead node comes from a raw client, encoded by Tahu's encoder.
    r.clock.ms += REBIRTH_INTERVAL_MS;
    await r.pub.publishAsync('spBv1.0/tahu/DDATA/edge1/pump1', enc({ ...pumpData(), seq: 5 }), { qos: 1 });
    await r.until(() => r.ncmds.length === 2, 'a rebirth request after the death');
    expect(r.ncmds[1]).toMatchObject({ topic: 'spBv1.0/tahu/NCMD/edge1', payload: { metrics: [{ name: 'Node Control/Rebirth', value: true }] } });
    expect(pump()!.health).toBe('dead');
    expect(r.coord.rejected).toMatchObject({ malformed: 0, unborn: 2 });
    expect(r.data).toHaveLength(1);
  }, 60_000);
});
