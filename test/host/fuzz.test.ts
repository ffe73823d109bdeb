// Inbound fuzz, the acceptance test for the host's boundary: at least 100,000
// malformed messages through a real (secured) embedded broker to a real
// Coordinator and a real Agent ticking on its own timer. Random bytes,
// truncated and bit-flipped Sparkplug payloads, oversized payloads, valid
// protobuf with out-of-range values, and topics that are not Sparkplug B.
//
//   seeded PRNG -> QoS 1 publishes in batches -> every one delivered
//   -> each receiver rejected and counted exactly what it was sent (the
//      coordinator, tolerant of edge nodes it did not write, skips one
//      metric it cannot take and counts it, rejected.skippedMetrics; a
//      whole message it cannot read, rejected.malformed)
//   -> the core's setpoint and parameters untouched, the loop still ticking,
//      the coordinator still discovers, tracks and commands
//
// Reproduce a failure: EDGELOOP_FUZZ_SEED=<seed> npx vitest run test/host/fuzz.test.ts
// (EDGELOOP_FUZZ_COUNT=<n> for a longer run).
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker, type User } from '../../host/mqtt/broker.js';
import { decodePayload, decodePayloadTolerant, encodePayload, METRICS_MAX, PayloadError, PAYLOAD_MAX_BYTES } from '../../host/mqtt/codec.js';
import { PACKET_MAX_BYTES } from '../../host/mqtt/limits.js';
import { CommandError, parseCommand } from '../../host/mqtt/commands.js';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { PARAM_IDS, type ParamName } from '../../host/runtime/abi.js';
import { chamberBinding } from '../support/bindings.js';
import { Rng } from '../../firmware-sim/rng.js';
import { coreBytes, freshCore } from '../support/core.js';
import { generateFleetKey, signModule } from '../../host/deploy/signing.js';

const SEED = Number(process.env.EDGELOOP_FUZZ_SEED ?? 20_251_124);
const COUNT = Number(process.env.EDGELOOP_FUZZ_COUNT ?? 100_000);
const BATCH = 1000;

// Tahu's own encoder, without our limits: the fuzz must be able to say what we would never send.
const tahu = (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): { encodePayload(p: unknown): Uint8Array } }).get('spBv1.0');
const raw = (p: { timestamp?: number; seq?: number; metrics?: unknown[] }) => Buffer.from(tahu.encodePayload(p));

const FLEET = generateFleetKey();
const GROUP = 'plant1';
const NODE = 'gw1';
const DEVICE = 'loop1';
const DCMD = `spBv1.0/${GROUP}/DCMD/${NODE}/${DEVICE}`;
const NCMD = `spBv1.0/${GROUP}/NCMD/${NODE}`;
const HOST = 'coord1';
const STATE = `spBv1.0/STATE/${HOST}`;
const COMMAND_KEYS = ['command/setpoint', 'command/mode', 'command/reset', 'command/hold', 'command/release', 'command/param'];
const TYPES = ['NBIRTH', 'NDEATH', 'NDATA', 'NCMD', 'DBIRTH', 'DDEATH', 'DDATA', 'DCMD'];

/** One malformed message, and who must reject and count it. */
interface Shot { kind: string; topic: string; payload: Buffer; agent: boolean; coord: boolean }

/** Does the coordinator receive this topic? It subscribes to spBv1.0/+/+/+ and spBv1.0/+/+/+/+. */
const coordReceives = (topic: string) => { const l = topic.split('/'); return l[0] === 'spBv1.0' && (l.length === 4 || l.length === 5); };

const decodes = (b: Uint8Array) => { try { return decodePayload(b); } catch { return null; } };
/** Does the coordinator's (tolerant) decoder take it? Whatever the strict one takes, it takes too. */
const coordDecodes = (b: Uint8Array) => { try { return decodePayloadTolerant(b); } catch { return null; } };

type M = { name?: string; type: string; value: unknown };
const m = (name: string | undefined, type: string, value: unknown): M => ({ ...(name === undefined ? {} : { name }), type, value });

class Fuzz {
  private readonly rng: Rng;
  private n = 0;
  /** Expensive payloads (thousands of metrics, deep nesting) are built once per shape and sent many times. */
  private readonly memo = new Map<string, Buffer>();
  constructor(seed: number) { this.rng = new Rng(seed); }

  private once(key: string, build: () => Buffer): Buffer {
    let b = this.memo.get(key);
    if (!b) { b = build(); this.memo.set(key, b); }
    return b;
  }

  private int(lo: number, hi: number) { return this.rng.int(lo, hi); }
  private pick<T>(a: readonly T[]): T { return a[this.int(0, a.length - 1)]; }
  private chance(p: number) { return this.rng.next() < p; }
  private bytes(n: number) { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = this.int(0, 255); return b; }
  private id() { return `f-${this.n++}`; }
  private text(n: number) { return 'A'.repeat(n); }
  private now() { return 1_763_860_000_000 + this.n; }

  /** A valid command: setpoint 42 (in range, so it would show in the core), or any other kind. */
  private validCommand(): Buffer {
    const body = this.pick<M[]>([
      [m('command/setpoint', 'Double', 42)], [m('command/reset', 'Boolean', true)], [m('command/hold', 'Boolean', true)],
      [m('command/release', 'Boolean', true)], [m('command/param', 'String', 'kp=3')], [m('command/mode', 'String', 'fallback')],
    ]);
    return raw({ timestamp: this.now(), seq: this.int(0, 255), metrics: [m('command/id', 'String', this.id()), ...body] });
  }

  /** A valid DDATA like an agent's. */
  private validData(): Buffer {
    return raw({ timestamp: this.now(), seq: this.int(0, 255), metrics: [
      m('setpoint', 'Double', 50), m('measurement', 'Double', 49.5), m('output', 'Double', 12), m('mode', 'String', 'NOMINAL'),
      m('cause', 'String', ''), m('tick_us', 'UInt64', 1000), m('sample', 'UInt64', 3), m('held', 'Boolean', false) ] });
  }

  private mutate(b: Buffer): Buffer {
    if (this.chance(0.4)) return b.subarray(0, this.int(0, b.length - 1));
    const c = Buffer.from(b);
    for (let k = this.int(1, 4); k > 0; k--) { const i = this.int(0, c.length - 1); c[i] ^= 1 << this.int(0, 7); }
    return c;
  }

  /** `dataOnly`: NDATA or DDATA (a message the coordinator reads in part would be a real birth or death on the others). */
  private dataTopic(dataOnly = false): string {
    const own = this.chance(0.5);
    const g = own ? GROUP : `g${this.int(0, 9)}`;
    const n = own ? NODE : `n${this.int(0, 9)}`;
    const t = this.pick(dataOnly ? ['NDATA', 'DDATA'] : ['NBIRTH', 'NDEATH', 'NDATA', 'DBIRTH', 'DDEATH', 'DDATA']);
    return t.startsWith('N') ? `spBv1.0/${g}/${t}/${n}` : `spBv1.0/${g}/${t}/${n}/${own ? DEVICE : `d${this.int(0, 9)}`}`;
  }

  /** A topic that is not Sparkplug B, by construction (an empty level, an unknown type, wrong levels). */
  private badTopic(): string {
    const word = () => Array.from({ length: this.int(1, 8) }, () => String.fromCharCode(this.int(0x21, 0x7e))).join('').replace(/[/+#]/g, '_');
    const unknown = () => { let w = word(); while (TYPES.includes(w)) w = word(); return w; };
    return this.pick([
      () => `spBv1.0/${GROUP}/${unknown()}/${NODE}`,
      () => `spBv1.0/${GROUP}/${unknown()}/${NODE}/${DEVICE}`,
      () => `spBv1.0/${GROUP}/${this.pick(['NBIRTH', 'NDEATH', 'NDATA', 'NCMD'])}/${NODE}/${DEVICE}`,
      () => `spBv1.0/${GROUP}/${this.pick(['DBIRTH', 'DDEATH', 'DDATA', 'DCMD'])}/${NODE}`,
      () => `spBv1.0//DDATA/${NODE}/${DEVICE}`,
      () => `spBv1.0/${GROUP}/DDATA//${DEVICE}`,
      () => `spBv1.0/${GROUP}/DDATA/${NODE}/`,
      () => `spBv1.0/${GROUP}/NDATA/`,
      () => `spBv1.0/STATE/${HOST}/${word()}`,
      () => `spBv1.0/STATE/${word()}/${word()}/${word()}`,
      () => `spBv1.0/${GROUP}/ddata/${NODE}/${DEVICE}`,
      () => `spBv1.0/${GROUP}/${unknown()}/${'ü'.repeat(this.int(1, 300))}`,
    ])();
  }

  /** Delivered to nobody: wrong namespace or level count for every subscription. */
  private strayTopic(): string {
    return this.pick([`spBv1.0/${GROUP}/DDATA/${NODE}/${DEVICE}/x`, `spBv1.0/${GROUP}/NDATA`, `spBv2.0/${GROUP}/DDATA/${NODE}/${DEVICE}`,
      `spbv1.0/${GROUP}/DCMD/${NODE}/${DEVICE}`, 'spBv1.0', `fuzz/${this.int(0, 99)}`, `spBv1.0/a/b/c/d/e/f`]);
  }

  /** Valid protobuf, malformed by construction. `coord`: the codec itself refuses it (so the coordinator counts its copy). */
  private structuredCommand(): { kind: string; payload: Buffer; coord: boolean } {
    const id = m('command/id', 'String', this.id());
    const sp42 = m('command/setpoint', 'Double', 42);
    const ts = this.now();
    const cmd = (kind: string, metrics: M[], coord = false, extra: { seq?: number; timestamp?: number | undefined } = {}) =>
      ({ kind, coord, payload: raw({ timestamp: ts, ...extra, metrics }) });
    const junk = (k: number) => Array.from({ length: k }, (_, i) => m(`x${i}`, 'Boolean', true));
    return this.pick([
      () => cmd('seq out of range', [id, sp42], true, { seq: this.pick([256, 300, 65_535, 2 ** 40]) }),
      () => cmd('setpoint NaN/Infinity', [id, m('command/setpoint', 'Double', this.pick([NaN, Infinity, -Infinity]))], true),
      () => cmd('setpoint out of range', [id, m('command/setpoint', 'Double', this.pick([1e9, -1e9, 200.5, -10.5, 1e308, -Number.MAX_VALUE]))]),
      () => cmd('setpoint wrong type', [id, this.pick([m('command/setpoint', 'String', '42'), m('command/setpoint', 'Boolean', true),
        m('command/setpoint', 'Text', '42'), m('command/setpoint', 'Int64', 2 ** 60)])]),
      () => cmd('unknown command name', [id, this.pick([m('command/explode', 'Boolean', true), m('Command/Setpoint', 'Double', 42),
        m('command/setpoint ', 'Double', 42), m('command/', 'Double', 42), m('Setpoint', 'Double', 42)])]),
      () => cmd('unknown command beside a valid one', [id, sp42, m(this.pick(['command/explode', 'command/setpoint2', 'command/ack']), 'Boolean', true)]),
      () => cmd('bad id', [this.pick([m('command/id', 'String', ''), m('command/id', 'String', 'x'.repeat(65)), m('command/id', 'String', 'a b'),
        m('command/id', 'String', 'ü'), m('command/id', 'String', '../x'), m('command/id', 'Int32', 7), m('command/id', 'String', this.text(50_000)),
        m('command/ID', 'String', 'ok-1')]), sp42]),
      () => cmd('no id, nothing writable', [m('note', 'String', 'x')]),
      () => cmd('two commands', [id, sp42, this.pick([m('command/reset', 'Boolean', true), m('command/hold', 'Boolean', true), m('command/param', 'String', 'kp=3')])]),
      () => cmd('duplicate command', [id, sp42, m('command/setpoint', 'Double', 43)]),
      () => cmd('duplicate id', [id, m('command/id', 'String', 'other-1'), sp42]),
      () => cmd('flag not true', [id, m(this.pick(['command/reset', 'command/hold', 'command/release']), ...this.pick<[string, unknown]>([
        ['Boolean', false], ['Int32', 1], ['String', 'true'], ['Double', 1]]))]),
      () => cmd('bad mode', [id, this.pick([m('command/mode', 'String', 'panic'), m('command/mode', 'String', ''), m('command/mode', 'String', 'FALLBACK'),
        m('command/mode', 'Int32', 1), m('command/mode', 'String', this.text(30_000))])]),
      () => cmd('bad param', [id, m('command/param', 'String', this.pick(['warp=9', 'kp=', '=5', 'kp=abc', 'kp=1e999', 'kp=NaN', 'kp=Infinity', 'kp=1e9',
        'kp=-1e9', 'KP=3', 'kp==3', 'kp=3 ', ' kp=3', 'kp=0x3', 'kp=+3', 'kp=3e', 'kp=.', 'kp=3,5', 'kp=true', 'out_min=safe_stop', 'kp=none',
        'n_sensors=-2147483649', `kp=${this.text(this.int(100, 60_000))}`, `kp=${'\u0001'.repeat(this.int(1000, 20_000))}`, `${'k'.repeat(5000)}=3`]))]),
      () => cmd('deploy: unsigned', [id, m('command/deploy', 'String', this.once(`b64-${this.int(0, 7)}`, () => Buffer.from(this.bytes(this.int(1, 4000))).toString('base64')).toString())]),
      () => cmd('deploy: wrongly signed', [id, m('command/deploy', 'String', this.once(`b64-${this.int(0, 7)}`, () => Buffer.from(this.bytes(this.int(1, 4000))).toString('base64')).toString()),
        m('command/signature', 'String', this.bytes(64).toString('base64'))]),
      () => {
        // Signed by the fleet key, but not a core: garbage, or the real core cut short.
        const k = this.int(0, 7);
        const module = this.once(`signed-${k}`, () => (k < 4 ? this.bytes(this.int(8, 3000)) : coreBytes().subarray(0, this.int(0, 200))));
        return cmd('deploy: signed, not a core', [id, m('command/deploy', 'String', module.toString('base64')),
          m('command/signature', 'String', Buffer.from(signModule(module, FLEET.privateKeyPem)).toString('base64'))]);
      },
      () => cmd('deploy: malformed', [id, this.pick([m('command/deploy', 'String', ''), m('command/deploy', 'String', 'not base64!'), m('command/deploy', 'Boolean', true),
        m('command/deploy', 'String', 'QUJD'.repeat(4000))]), ...this.pick([[], [m('command/signature', 'String', 'AAAA')], [m('command/signature', 'Int32', 1)]])]),
      () => cmd('signature without deploy', [id, sp42, m('command/signature', 'String', this.bytes(64).toString('base64'))]),
      () => cmd('rollback not true', [id, this.pick([m('command/rollback', 'Boolean', false), m('command/rollback', 'String', 'true'), m('command/rollback', 'Int32', 1)])]),
      () => cmd('param wrong type', [id, this.pick([m('command/param', 'Double', 3), m('command/param', 'Boolean', true)])]),
      () => cmd('too many metrics', [id, sp42, ...junk(this.int(7, 40))]),
      () => {
        const k = this.pick([METRICS_MAX - 1, METRICS_MAX + 7, METRICS_MAX + 300, METRICS_MAX + 900]); // + 2: always over
        return { kind: 'too many metrics (codec)', coord: true, payload: this.once(`cmd-many-${k}`, () => raw({ timestamp: ts, metrics: [id, sp42, ...junk(k)] })) };
      },
      () => cmd('huge metric name', [id, sp42, m(`command/${'x'.repeat(this.int(10_000, 60_000))}`, 'Boolean', true)]),
      () => cmd('empty', []),
      () => cmd('metric without name', [id, sp42, m(undefined, 'Double', 1)], true),
      () => cmd('bytes value', [id, m('command/setpoint', 'Bytes', Buffer.from([0, 0, 0, 42]))], true),
      () => cmd('dataset value', [id, m('command/setpoint', 'DataSet', { numOfColumns: 1, columns: ['a'], types: ['Double'], rows: [[42]] })], true),
      () => cmd('no timestamp', [id, sp42], true, { timestamp: undefined }),
      () => ({ kind: 'deep template', coord: true, payload: this.deep() }),
    ])();
  }

  /** Valid protobuf, malformed by construction. `oneMetric`: the coordinator skips one metric (counted) and reads the rest. */
  private structuredData(): { kind: string; payload: Buffer; oneMetric?: boolean } {
    const good = [m('setpoint', 'Double', 50), m('measurement', 'Double', 49.5), m('mode', 'String', 'NOMINAL')];
    const ts = this.now();
    return this.pick([
      () => ({ kind: 'data: seq out of range', payload: raw({ timestamp: ts, seq: this.pick([256, 300, 70_000]), metrics: good }) }),
      () => ({ kind: 'data: NaN/Infinity', oneMetric: true, payload: raw({ timestamp: ts, seq: 1, metrics: [...good, m(this.pick(['measurement', 'setpoint', 'output']), this.pick(['Double', 'Float']), this.pick([NaN, Infinity, -Infinity]))] }) }),
      () => ({ kind: 'data: metric without name', oneMetric: true, payload: raw({ timestamp: ts, metrics: [...good, m(undefined, 'Double', 1)] }) }),
      () => ({ kind: 'data: bytes value', oneMetric: true, payload: raw({ timestamp: ts, metrics: [...good, m('mode', 'Bytes', Buffer.from('NOMINAL'))] }) }),
      () => ({ kind: 'data: no timestamp', payload: raw({ metrics: good }) }),
      () => {
        const k = this.pick([METRICS_MAX - 2, METRICS_MAX + 11, METRICS_MAX + 500]); // + 3: always over
        return { kind: 'data: too many metrics', payload: this.once(`data-many-${k}`, () => raw({ timestamp: ts, metrics: [...good, ...Array.from({ length: k }, (_, i) => m(`x${i}`, 'Boolean', true))] })) };
      },
      // One Template metric: skipped, or (nested too deep to decode) the whole message refused; counted once either way.
      () => ({ kind: 'data: deep template', oneMetric: true, payload: this.deep() }),
    ])();
  }

  /** The next malformed message. */
  next(): Shot {
    const r = this.rng.next();
    // Commands to the agent (its DCMD copy reaches the coordinator too).
    if (r < 0.12) {
      const payload = this.bytes(this.int(0, 300));
      if (coordDecodes(payload)) return this.next();
      return { kind: 'dcmd: random bytes', topic: DCMD, payload, agent: true, coord: true };
    }
    if (r < 0.30) {
      for (let tries = 0; tries < 50; tries++) {
        const payload = this.mutate(this.validCommand());
        const p = decodes(payload);
        // The two decoders differ on it (one refuses it, the other reads it in part; or Tahu's reads a missing
        // Int32 as 0 where the coordinator's skips it): how many metrics it skips is not this shot's to say.
        const c = coordDecodes(payload);
        if (p ? c?.skipped !== 0 : c) continue;
        if (!p) return { kind: 'dcmd: mutated, undecodable', topic: DCMD, payload, agent: true, coord: true };
        // Still decodes: malformed only if it lost its command (without a command/id a command is a tag write, answered under its name).
        const names = p.metrics.map((x) => x.name);
        if (!names.some((x) => COMMAND_KEYS.includes(x))) {
          return { kind: 'dcmd: mutated, lost its command', topic: DCMD, payload, agent: true, coord: false };
        }
      }
      return this.next();
    }
    if (r < 0.52) {
      const s = this.structuredCommand();
      return { kind: `dcmd: ${s.kind}`, topic: DCMD, payload: s.payload, agent: true, coord: s.coord };
    }
    if (r < 0.524) return { kind: 'dcmd: oversized', topic: DCMD, payload: this.oversized(), agent: true, coord: true };
    if (r < 0.56) {
      const payload = this.pick([
        () => Buffer.concat([Buffer.from([0xff]), this.bytes(this.int(0, 64))]),
        () => raw({ timestamp: this.now(), metrics: [m('Node Control/Rebirth', 'Boolean', false)] }),
        () => raw({ timestamp: this.now(), metrics: [m('Node Control/Rebirth', 'String', 'true')] }),
        () => raw({ timestamp: this.now(), metrics: [m('Node Control/Reboot', 'Boolean', true)] }),
        () => raw({ timestamp: this.now(), metrics: [] }),
      ])();
      return { kind: 'ncmd', topic: NCMD, payload, agent: true, coord: !coordDecodes(payload) };
    }
    if (r < 0.58) {
      // The primary host's STATE (JSON): not JSON at all.
      const payload = Buffer.concat([Buffer.from(this.pick(['}', '\u0000', '{"online":', 'online', '[1,'])), this.bytes(this.int(0, 40))]);
      return { kind: 'state: not JSON', topic: STATE, payload, agent: true, coord: false };
    }
    // Data to the coordinator.
    if (r < 0.68) {
      const payload = this.bytes(this.int(0, 300));
      if (coordDecodes(payload)) return this.next();
      return { kind: 'data: random bytes', topic: this.dataTopic(), payload, agent: false, coord: true };
    }
    if (r < 0.82) {
      for (let tries = 0; tries < 50; tries++) {
        const payload = this.mutate(this.validData());
        if (!coordDecodes(payload)) return { kind: 'data: mutated, undecodable', topic: this.dataTopic(), payload, agent: false, coord: true };
      }
      return this.next();
    }
    if (r < 0.90) {
      const s = this.structuredData();
      return { kind: s.kind, topic: this.dataTopic(s.oneMetric), payload: s.payload, agent: false, coord: true };
    }
    if (r < 0.904) return { kind: 'data: oversized', topic: this.dataTopic(), payload: this.oversized(), agent: false, coord: true };
    if (r < 0.99) {
      const topic = this.badTopic();
      return { kind: 'bad topic', topic, payload: this.chance(0.5) ? this.validData() : this.validCommand(), agent: false, coord: coordReceives(topic) };
    }
    return { kind: 'stray topic (nobody subscribes)', topic: this.strayTopic(), payload: this.validData(), agent: false, coord: false };
  }

  private deep(): Buffer {
    const depth = this.pick([50, 400, 2000, 6000]);
    return this.once(`deep-${depth}`, () => deepTemplate(depth));
  }

  // Over the payload limit that the receivers check, under the broker's packet
  // limit (PACKET_MAX_BYTES, the payload limit and 1 KiB for the topic):
  // bigger ones never get past the broker (test/host/broker-limits.test.ts).
  private oversized(): Buffer {
    if (this.chance(0.5)) return this.bytes(PAYLOAD_MAX_BYTES + this.int(1, 900));
    // Valid protobuf, a valid command even, just too big.
    return raw({ timestamp: this.now(), metrics: [m('command/id', 'String', this.id()), m('command/setpoint', 'Double', 42),
      m('pad', 'String', this.text(PAYLOAD_MAX_BYTES + this.int(0, 600)))] });
  }
}

/** A Template metric nested `depth` deep, built by hand in one pass (Tahu's encoder would recurse as deep). */
function deepTemplate(depth: number): Buffer {
  const vlen = (n: number) => (n < 1 << 7 ? 1 : n < 1 << 14 ? 2 : n < 1 << 21 ? 3 : 4);
  const head = [0x0a, 1, 0x74, 0x20, 19]; // Metric.name = 't', Metric.datatype = 19 (Template)
  // Sizes from the inside out: metric[i] = head, template_value (18) { metrics (2) [ metric[i-1] ] }
  const metric = [head.length];
  const template = [0];
  for (let i = 1; i <= depth; i++) {
    template[i] = 1 + vlen(metric[i - 1]) + metric[i - 1];
    metric[i] = head.length + 2 + vlen(template[i]) + template[i];
  }
  const out: number[] = [];
  const varint = (n: number) => { while (n > 127) { out.push((n & 127) | 128); n >>>= 7; } out.push(n); };
  out.push(1 << 3, 1, (2 << 3) | 2); // Payload.timestamp = 1, Payload.metrics [
  varint(metric[depth]);
  for (let i = depth; i >= 1; i--) {
    out.push(...head, 0x92, 0x01); // template_value (field 18, length-delimited)
    varint(template[i]);
    out.push((2 << 3) | 2); // Template.metrics
    varint(metric[i - 1]);
  }
  out.push(...head);
  return Buffer.from(out);
}

// ---------------------------------------------------------------------------

const USERS: User[] = [
  { username: 'gw1', password: 'gw1-secret', role: 'agent', group: GROUP, node: NODE },
  { username: 'coord', password: 'coord-secret', role: 'coordinator' },
  { username: 'fuzzer', password: 'fuzzer-secret', role: 'coordinator' },
];

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
let broker: EmbeddedBroker | null = null;
afterAll(async () => { await broker?.close(); });

describe(`inbound fuzz: ${COUNT} malformed messages (seed ${SEED})`, () => {
  it('every one is rejected and counted by its receiver; nothing reaches the core; both keep working', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const coordinator = new Coordinator({ broker: broker.url, username: 'coord', password: 'coord-secret', hostId: HOST, staleMs: 60_000 });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100,
      model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 50_000, period_max_us: 50_000 });
    core.setSetpoint(80, Math.round(performance.now() * 1000));
    const agent = new Agent({ group: GROUP, node: NODE, device: DEVICE, core, binding: chamberBinding(0.05), primaryHost: HOST,
      broker: broker.url, username: 'gw1', password: 'gw1-secret', fleetKey: FLEET.publicKeyPem });
    const version = agent.coreVersion;
    agent.start();
    const cycler = setInterval(() => coordinator.cycle(), 5);
    const key = `${GROUP}/${NODE}/${DEVICE}`;
    for (let i = 0; i < 250 && coordinator.agents.get(key)?.health !== 'online'; i++) await wait(20);
    expect(coordinator.agents.get(key)?.health, 'the agent discovered').toBe('online');

    const params = new Map([...PARAM_IDS.keys()].map((n) => [n, core.param(n as ParamName)]));
    const setpoint = core.setpoint;
    const agentCount = () => agent.stats.commandsRejected + agent.stats.inboxDropped + agent.stats.stateRejected;
    const coordCount = () => coordinator.rejected.malformed + coordinator.rejected.dropped + coordinator.rejected.skippedMetrics;
    const base = { agent: agentCount(), coord: coordCount(), ticks: agent.stats.ticks, applied: agent.stats.commandsApplied };

    const fuzzer = await mqtt.connectAsync(broker.url, { username: 'fuzzer', password: 'fuzzer-secret', reconnectPeriod: 0 });
    const fuzz = new Fuzz(SEED);
    const kinds = new Map<string, number>();
    let expectAgent = 0;
    let expectCoord = 0;
    let bytes = 0;
    const t0 = performance.now();
    // A message whose packet is over the broker's limit never reaches a
    // receiver: the broker closes the connection that sends it (host/mqtt/
    // limits.ts). Those are set aside, and some sent at the end, each on a
    // connection of its own.
    const overLimit: Shot[] = [];
    const next = (): Shot => {
      for (;;) {
        const s = fuzz.next();
        if (s.payload.length + Buffer.byteLength(s.topic) + 16 <= PACKET_MAX_BYTES) return s;
        overLimit.push(s);
      }
    };
    for (let sent = 0; sent < COUNT; sent += BATCH) {
      const shots = Array.from({ length: Math.min(BATCH, COUNT - sent) }, next);
      for (const s of shots) {
        kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
        if (s.agent) expectAgent++;
        if (s.coord) expectCoord++;
        bytes += s.payload.length;
      }
      await Promise.all(shots.map((s) => fuzzer.publishAsync(s.topic, s.payload, { qos: 1 })));
    }
    const tSent = performance.now();
    // Acknowledged by the broker: now wait for delivery, then make sure nothing more trickles in.
    for (let i = 0; i < 1500 && (agentCount() - base.agent < expectAgent || coordCount() - base.coord < expectCoord); i++) await wait(20);
    await wait(500);
    const tDone = performance.now();
    const ticksDuring = agent.stats.ticks - base.ticks;

    console.log(`fuzz seed ${SEED}: ${COUNT} messages (${(bytes / 1e6).toFixed(1)} MB) published in ${((tSent - t0) / 1000).toFixed(1)} s, `
      + `all counted after ${((tDone - t0) / 1000).toFixed(1)} s; agent rejected ${agent.stats.commandsRejected} `
      + `+ dropped ${agent.stats.inboxDropped} (expected ${expectAgent} + ${base.agent} before), coordinator malformed ${coordinator.rejected.malformed} `
      + `+ dropped ${coordinator.rejected.dropped} + metrics skipped ${coordinator.rejected.skippedMetrics} (expected ${expectCoord} + ${base.coord} before); agent ticks during the fuzz ${ticksDuring} (late ${agent.stats.lateTicks})\n`
      + [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`).join('\n'));

    // Over the packet limit: the broker closed each sender, nothing was delivered (the counts above are exact).
    const probes = overLimit.slice(0, 5);
    for (const o of probes) {
      const c = await mqtt.connectAsync(broker.url, { username: 'fuzzer', password: 'fuzzer-secret', reconnectPeriod: 0 });
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      c.publish(o.topic, o.payload, { qos: 1 });
      await closed;
      c.end(true);
    }
    console.log(`  ${overLimit.length} messages over the broker's packet limit set aside, ${probes.length} sent: each closed its connection`);
    expect(broker.counters.oversized).toBe(probes.length);

    // Every malformed message rejected and counted, exactly, by each receiver.
    expect(agentCount() - base.agent, 'agent: commandsRejected + inboxDropped + stateRejected').toBe(expectAgent);
    expect(coordCount() - base.coord, 'coordinator: rejected.malformed + dropped + skippedMetrics').toBe(expectCoord);
    expect(broker.counters.denied.publish, 'the fuzzer is a coordinator: nothing refused by the ACL').toBe(0);
    // Nothing reached the core.
    expect(agent.stats.commandsApplied).toBe(base.applied);
    expect(agent.core, 'no deployment installed').toBe(core);
    expect(agent.coreVersion).toBe(version);
    expect(core.setpoint).toBe(setpoint);
    for (const [n, v] of params) expect(core.param(n as ParamName), n).toBe(v);
    // No phantom agents.
    expect([...coordinator.agents.keys()]).toEqual([key]);
    // The loop kept ticking on its own timer, and still does.
    expect(ticksDuring).toBeGreaterThan(((tDone - t0) / 50) * 0.25);
    const ticks = agent.stats.ticks;
    await wait(300);
    expect(agent.stats.ticks).toBeGreaterThan(ticks);

    // The coordinator still discovers a loop from a valid DBIRTH (an edgeloop one: it declares core_version and guard/status) and DDATA...
    const enc = (metrics: Parameters<typeof encodePayload>[0]['metrics'], seq: number) => Buffer.from(encodePayload({ timestamp: Date.now(), seq, metrics }));
    await fuzzer.publishAsync('spBv1.0/plant1/NBIRTH/gw7', enc([{ name: 'bdSeq', type: 'UInt64', value: 0 }], 0), { qos: 1 });
    await fuzzer.publishAsync('spBv1.0/plant1/DBIRTH/gw7/loop7', enc([{ name: 'mode', type: 'String', value: 'NOMINAL' }, { name: 'setpoint', type: 'Double', value: 40 },
      { name: 'core_version', type: 'String', value: 'builtin' }, { name: 'guard/status', type: 'Int32', value: 0 }], 1), { qos: 1 });
    await fuzzer.publishAsync('spBv1.0/plant1/DDATA/gw7/loop7', enc([{ name: 'measurement', type: 'Double', value: 42 }], 2), { qos: 1 });
    for (let i = 0; i < 100 && coordinator.agents.get('plant1/gw7/loop7')?.measurement !== 42; i++) await wait(20);
    expect(coordinator.agents.get('plant1/gw7/loop7')).toMatchObject({ health: 'online', mode: 'NOMINAL', setpoint: 40, measurement: 42 });
    // ...and still commands the agent, which still applies a valid command.
    const c = coordinator.command(key, { kind: 'setpoint', value: 75 });
    for (let i = 0; i < 150 && c.state === 'sent'; i++) await wait(20);
    expect(c).toMatchObject({ state: 'acked', detail: 'ok' });
    expect(core.setpoint).toBe(75);
    expect(coordCount() - base.coord).toBe(expectCoord);

    clearInterval(cycler);
    await fuzzer.endAsync();
    await agent.stop();
    await coordinator.stop();
  });
});

// ---------------------------------------------------------------------------
// Shapes the fuzz found, pinned as unit tests (codec.ts and commands.ts).

describe('holes the fuzz found, closed at the boundary', () => {
  const cmd = (...metrics: M[]) => decodePayload(raw({ timestamp: 1, metrics }));
  const id = m('command/id', 'String', 'c-1');

  it('a command/param value must be a decimal number, true/false or an action name, and short', () => {
    for (const v of ['kp=3 ', 'kp=0x3', 'kp=+3', 'kp=abc', 'kp=Infinity', 'kp=1e999', `kp=${'A'.repeat(60_000)}`, `kp=${'\u0001'.repeat(2000)}`]) {
      expect(() => parseCommand(cmd(id, m('command/param', 'String', v))), v.slice(0, 20)).toThrow(CommandError);
    }
    // The message never carries the whole value back (it goes into an ack, in DDATA).
    try { parseCommand(cmd(id, m('command/param', 'String', `kp=${'A'.repeat(60_000)}`))); } catch (err) { expect((err as Error).message.length).toBeLessThan(300); }
    expect(parseCommand(cmd(id, m('command/param', 'String', 'kp=2.5')))).toMatchObject({ name: 'kp', value: 2.5 });
    expect(parseCommand(cmd(id, m('command/param', 'String', 'kp=-1e-3')))).toMatchObject({ name: 'kp', value: -0.001 });
    expect(parseCommand(cmd(id, m('command/param', 'String', 'median3=true')))).toMatchObject({ name: 'median3', value: true });
    expect(parseCommand(cmd(id, m('command/param', 'String', 'sens_stuck.level=alarm')))).toMatchObject({ name: 'sens_stuck.level', value: 'alarm' });
  });

  it('a command carries its id and exactly one command, each once, nothing unknown under command/, and few metrics', () => {
    const sp = m('command/setpoint', 'Double', 42);
    expect(() => parseCommand(cmd(id, sp, m('command/setpoint', 'Double', 43)))).toThrow(/command\/setpoint: expected once/);
    expect(() => parseCommand(cmd(id, m('command/id', 'String', 'c-2'), sp))).toThrow(/command\/id: expected once/);
    expect(() => parseCommand(cmd(id, sp, m('command/explode', 'Boolean', true)))).toThrow(/command\/explode: expected a known command metric/);
    expect(() => parseCommand(cmd(id, sp, ...Array.from({ length: 20 }, (_, i) => m(`x${i}`, 'Boolean', true))))).toThrow(/command: expected at most 8 metrics, received "22 metrics"/);
    expect(() => parseCommand(cmd(id, sp, ...Array.from({ length: 6 }, (_, i) => m(`x${i}`, 'Boolean', true))))).not.toThrow();
    expect(parseCommand(cmd(id, m('command/setpoint', 'Float', 42)))).toEqual({ id: 'c-1', kind: 'setpoint', value: 42 });
    expect(parseCommand(cmd(id, sp, m('note', 'String', 'from the console')))).toEqual({ id: 'c-1', kind: 'setpoint', value: 42 });
  });

  it('the codec refuses non-finite numbers, too many metrics and metrics without a value', () => {
    expect(() => decodePayload(raw({ timestamp: 1, metrics: [m('measurement', 'Double', NaN)] }))).toThrow(/payload\.metrics\[0\]\.value: expected a finite number, received NaN/);
    expect(() => decodePayload(raw({ timestamp: 1, metrics: [m('x', 'Float', -Infinity)] }))).toThrow(PayloadError);
    const many = Array.from({ length: METRICS_MAX + 1 }, (_, i) => m(`x${i}`, 'Boolean', true));
    expect(() => decodePayload(raw({ timestamp: 1, metrics: many }))).toThrow(new RegExp(`payload.metrics: expected at most ${METRICS_MAX} metrics, received ${METRICS_MAX + 1}`));
    expect(decodePayload(raw({ timestamp: 1, metrics: many.slice(1) })).metrics).toHaveLength(METRICS_MAX);
    expect(() => decodePayload(deepTemplate(5000))).toThrow(PayloadError);
  });

  it('a signed Int64 from another encoder reads signed (its uint64 field holds two\'s complement); a UInt64 stays unsigned', () => {
    const p = decodePayload(raw({ timestamp: 1, metrics: [m('a', 'Int64', -9), m('b', 'Int64', 2 ** 40), m('c', 'UInt64', 2 ** 40), m('d', 'Int32', -9)] }));
    expect(p.metrics.map((x) => x.value)).toEqual([-9, 2 ** 40, 2 ** 40, -9]);
  });
});
