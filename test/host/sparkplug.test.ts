// Sparkplug B: topics, payloads (Eclipse Tahu's codec) and inbound command
// validation. A malformed message is rejected with an error that names what
// is wrong, and nothing else is thrown.
import { describe, expect, it } from 'vitest';
import { deviceTopic, nodeTopic, parseTopic, stateTopic, TopicError } from '../../host/mqtt/topics.js';
import { decodePayload, encodePayload, PayloadError, SeqCounter, PAYLOAD_MAX_BYTES, PROPERTIES_MAX } from '../../host/mqtt/codec.js';
import { CommandError, parseCommand } from '../../host/mqtt/commands.js';
import { Rng } from '../../firmware-sim/rng.js';

describe('Sparkplug B topics', () => {
  it('builds and parses node, device and STATE topics', () => {
    expect(nodeTopic('plant1', 'NBIRTH', 'gw-3')).toBe('spBv1.0/plant1/NBIRTH/gw-3');
    expect(deviceTopic('plant1', 'DDATA', 'gw-3', 'loop-2')).toBe('spBv1.0/plant1/DDATA/gw-3/loop-2');
    expect(stateTopic('coord')).toBe('spBv1.0/STATE/coord');
    expect(parseTopic('spBv1.0/plant1/DCMD/gw-3/loop-2')).toEqual({ kind: 'device', group: 'plant1', type: 'DCMD', node: 'gw-3', device: 'loop-2' });
    expect(parseTopic('spBv1.0/plant1/NDEATH/gw-3')).toEqual({ kind: 'node', group: 'plant1', type: 'NDEATH', node: 'gw-3' });
    expect(parseTopic('spBv1.0/STATE/coord')).toEqual({ kind: 'state', host: 'coord' });
  });

  it('rejects what is not Sparkplug B, saying why', () => {
    expect(() => parseTopic('spAv1.0/g/NBIRTH/n')).toThrow(/expected the namespace 'spBv1.0'/);
    expect(() => parseTopic('spBv1.0/g/NBIRTH/n/d')).toThrow(/NBIRTH is a node message: no device_id/);
    expect(() => parseTopic('spBv1.0/g/DDATA/n')).toThrow(/DDATA is a device message: expected a device_id/);
    expect(() => parseTopic('spBv1.0/g/XDATA/n')).toThrow(/unknown message type 'XDATA'/);
    expect(() => nodeTopic('a/b', 'NBIRTH', 'n')).toThrow(TopicError);
    // MQTT topic names may not hold U+0000.
    expect(() => nodeTopic('plant1', 'NBIRTH', 'a\u0000b')).toThrow(/without '\/', '\+', '#' or NUL/);
    expect(() => deviceTopic('g', 'DCMD', 'n', '#')).toThrow(/device_id must be/);
  });
});

describe('Sparkplug B payloads', () => {
  it('round-trips metrics through Tahu, 64-bit fields as numbers', () => {
    const p = { timestamp: 1_763_860_000_123, seq: 255, metrics: [
      { name: 'measurement', type: 'Double' as const, value: 79.95 },
      { name: 'mode', type: 'Int32' as const, value: 2 },
      { name: 'cause', type: 'String' as const, value: 'sens_stuck' },
      { name: 'tick', type: 'UInt64' as const, value: 2 ** 40 + 7 },
    ] };
    const d = decodePayload(encodePayload(p));
    expect(d.timestamp).toBe(p.timestamp);
    expect(d.seq).toBe(255);
    expect(d.metrics.map((m) => [m.name, m.value])).toEqual(p.metrics.map((m) => [m.name, m.value]));
  });

  it('carries metric properties (engUnit, a bit table) both ways; inbound, only plain finite values are kept', () => {
    const p = { timestamp: 1, metrics: [
      { name: 'envelope/max', type: 'Double' as const, value: 95, properties: { engUnit: { type: 'String' as const, value: 'C' } } },
      { name: 'predicted', type: 'Float' as const, value: 80.5, properties: { engUnit: { type: 'String' as const, value: 'C' }, engHigh: { type: 'Double' as const, value: 200 } } },
      { name: 'plain', type: 'Boolean' as const, value: true },
    ] };
    const d = decodePayload(encodePayload(p));
    expect(d.metrics[0]).toEqual({ name: 'envelope/max', type: 'Double', value: 95, properties: { engUnit: { type: 'String', value: 'C' } } });
    expect(d.metrics[1]).toMatchObject({ type: 'Float', value: 80.5, properties: { engUnit: { type: 'String', value: 'C' }, engHigh: { type: 'Double', value: 200 } } });
    expect(d.metrics[2]).toEqual({ name: 'plain', type: 'Boolean', value: true });
    // A property that is not a plain finite value is left out; __proto__ is only a key; at most PROPERTIES_MAX are kept.
    const odd = decodePayload(encodePayload({ timestamp: 1, metrics: [{ name: 'x', type: 'Double', value: 1, properties: {
      nan: { type: 'Double', value: Number.NaN }, ok: { type: 'Int32', value: 3 }, ['__proto__']: { type: 'String', value: 'polluted' },
      ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, { type: 'Int32', value: i }])),
    } as never }] }));
    const props = odd.metrics[0].properties!;
    expect(props.nan).toBeUndefined();
    expect(props.ok).toEqual({ type: 'Int32', value: 3 });
    expect(Object.keys(props)).toHaveLength(PROPERTIES_MAX);
    expect(({} as Record<string, unknown>).type).toBeUndefined();
  });

  it('seq runs 0..255 and wraps', () => {
    const s = new SeqCounter();
    const got = Array.from({ length: 258 }, () => s.next());
    expect(got.slice(0, 3)).toEqual([0, 1, 2]);
    expect(got.slice(254)).toEqual([254, 255, 0, 1]);
  });

  it('rejects oversized and malformed payloads with a PayloadError, for 10,000 random inputs', () => {
    expect(() => decodePayload(new Uint8Array(PAYLOAD_MAX_BYTES + 1))).toThrow(/over the 65536-byte limit/);
    const rng = new Rng(9);
    let rejected = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = Uint8Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255));
      try {
        decodePayload(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(PayloadError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(9_000);
  });
});

describe('inbound commands', () => {
  const cmd = (...metrics: [string, unknown][]) => ({ timestamp: 1, metrics: metrics.map(([name, value]) => ({ name, type: 'String' as const, value: value as string })) });

  it('parses each kind of command', () => {
    expect(parseCommand(cmd(['command/id', 'c-1'], ['command/setpoint', 75.5]))).toEqual({ id: 'c-1', kind: 'setpoint', value: 75.5 });
    expect(parseCommand(cmd(['command/id', 'c-2'], ['command/mode', 'fallback']))).toEqual({ id: 'c-2', kind: 'mode', value: 'fallback' });
    expect(parseCommand(cmd(['command/id', 'c-5'], ['command/mode', 'trip']))).toEqual({ id: 'c-5', kind: 'mode', value: 'trip' });
    expect(parseCommand(cmd(['command/id', 'c-6'], ['command/mode', 'release']))).toEqual({ id: 'c-6', kind: 'mode', value: 'release' });
    expect(parseCommand(cmd(['command/id', 'c-3'], ['command/reset', true]))).toEqual({ id: 'c-3', kind: 'reset' });
    expect(parseCommand(cmd(['command/id', 'c-4'], ['command/param', 'kp=2.5']))).toEqual({ id: 'c-4', kind: 'param', name: 'kp', value: 2.5 });
  });

  it('rejects malformed commands, naming the field', () => {
    // Without a command/id it is a SCADA host's tag write, answered under the metric's name; a bad id is refused.
    expect(parseCommand(cmd(['command/setpoint', 1]))).toEqual({ id: 'command/setpoint', kind: 'setpoint', value: 1 });
    expect(() => parseCommand(cmd(['command/id', 'a b'], ['command/setpoint', 1]))).toThrow(/command\/id: expected a command id/);
    expect(() => parseCommand(cmd(['command/id', 'x'], ['command/setpoint', 'hot']))).toThrow(/command\/setpoint: expected a finite number, received "hot"/);
    expect(() => parseCommand(cmd(['command/id', 'x'], ['command/mode', 'panic']))).toThrow(/command\/mode: expected one of 'fallback', 'trip', 'release', received "panic"/);
    // The core's own word for "no demand" is not the command's: an operator releases.
    expect(() => parseCommand(cmd(['command/id', 'x'], ['command/mode', 'none']))).toThrow(/command\/mode: expected one of/);
    expect(() => parseCommand(cmd(['command/id', 'x'], ['command/param', 'warp=9']))).toThrow(/command\/param: expected a known core parameter name, received "warp"/);
    expect(() => parseCommand(cmd(['command/id', 'x'], ['command/reset', true], ['command/setpoint', 3]))).toThrow(CommandError);
  });
});
