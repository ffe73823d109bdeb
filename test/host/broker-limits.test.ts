// What the embedded broker takes in (host/mqtt/limits.ts, the ACL's retain
// rule): a packet that declares more than its limit closes the connection
// before aedes buffers it (the first packet, CONNECT, 16 KiB; any later one
// the deploy limit and a topic), and an agent may not retain messages. Each
// with its contrapositive: what is within the limits goes through. Real
// aedes, raw TCP and mqtt.js clients, loopback only, bounded.
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker, type User } from '../../host/mqtt/broker.js';
import { CONNECT_MAX_BYTES, PACKET_MAX_BYTES, PacketSizeGuard } from '../../host/mqtt/limits.js';

let broker: EmbeddedBroker | null = null;
const clients: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
  await broker?.close();
  broker = null;
});
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const USERS: User[] = [
  { username: 'gw1', password: 'gw1-secret', role: 'agent', group: 'plant1', node: 'gw1' },
  { username: 'coord', password: 'coord-secret', role: 'coordinator' },
];

/** An MQTT variable-length integer. */
function varint(n: number): number[] {
  const out: number[] = [];
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b); } while (n > 0);
  return out;
}

/** Open a raw socket, write `bytes`, and say whether the broker closed it within `ms`. */
function closedAfter(port: number, bytes: Uint8Array, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1', () => s.write(bytes));
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, ms);
    s.on('close', () => { clearTimeout(timer); resolve(true); });
    s.on('error', () => {});
  });
}

describe('packet size limits, read off the fixed header', () => {
  it('property: however the bytes are split, the guard refuses exactly the streams with a packet over its limit, at that packet', () => {
    const packet = fc.record({ type: fc.integer({ min: 1, max: 14 }), length: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3000 })) });
    fc.assert(fc.property(fc.array(packet, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (packets, cuts) => {
      const first = 1000;
      const rest = 2000;
      const bytes = Uint8Array.from(packets.flatMap((p) => [p.type << 4, ...varint(p.length), ...new Array<number>(p.length).fill(0)]));
      const overAt = packets.findIndex((p, i) => p.length > (i === 0 ? first : rest));
      const guard = new PacketSizeGuard(first, rest);
      guard.admit();   // the log-in accepted at once (before the admission, every packet is held to the first limit: below)
      let verdict: string | null = null;
      for (let at = 0, k = 0; at < bytes.length && verdict === null; k++) {
        const n = cuts[k % cuts.length];
        verdict = guard.feed(bytes.subarray(at, at + n));
        at += n;
      }
      expect(verdict !== null).toBe(overAt >= 0);
      if (overAt >= 0) expect(verdict).toMatch(new RegExp(`of ${packets[overAt].length} bytes, over the ${overAt === 0 ? first : rest}-byte limit`));
    }), { numRuns: 300, seed: 20251207 });
  });

  it('until the log-in is accepted, every packet is held to the CONNECT limit; after it, to the packet limit', () => {
    const pkt = (length: number) => Uint8Array.from([0x30, ...varint(length), ...new Array<number>(length).fill(0)]);
    const early = new PacketSizeGuard(1000, 2000);
    expect(early.feed(pkt(900))).toBeNull();
    expect(early.feed(pkt(1500))).toBe('a packet before the log-in was accepted of 1500 bytes, over the 1000-byte limit');
    const late = new PacketSizeGuard(1000, 2000);
    expect(late.feed(pkt(900))).toBeNull();
    late.admit();
    expect(late.feed(pkt(1500))).toBeNull();
    expect(late.feed(pkt(2500))).toBe('a packet of 2500 bytes, over the 2000-byte limit');
  });

  it('a client that sends a big packet right behind its CONNECT, before the CONNACK, is closed unread', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    // A valid CONNECT (MQTT 3.1.1, clean session, keepalive 10, client id 'x', user coord) and, in the same write,
    // a PUBLISH that declares 30,000 bytes: over the 16 KiB allowed before the log-in is accepted.
    const str = (t: string) => [t.length >> 8, t.length & 0xff, ...Buffer.from(t)];
    const body = [...str('MQTT'), 4, 0xc2, 0, 10, ...str('x'), ...str('coord'), ...str('coord-secret')];
    const connect = [0x10, ...varint(body.length), ...body];
    const publish = [0x30, ...varint(30_000), 0, 1, 0x61];
    expect(await closedAfter(broker.port, Uint8Array.from([...connect, ...publish]), 5000)).toBe(true);
    expect(broker.counters.oversized).toBe(1);
    // A client that waits for its CONNACK may then send up to the packet limit.
    const ok = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(ok);
    await ok.publishAsync('spBv1.0/plant1/STATE/x', Buffer.alloc(30_000));
    expect(broker.counters.oversized).toBe(1);
  });

  it('a CONNECT that declares 250 MB is closed at once, unread; the broker serves the next client', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const huge = Uint8Array.from([0x10, ...varint(250_000_000), 0x00, 0x04]);
    expect(await closedAfter(broker.port, huge, 5000)).toBe(true);
    expect(broker.counters.oversized).toBe(1);
    // A CONNECT at the limit is no problem for the guard (aedes then refuses it as malformed, without a log-in).
    expect(CONNECT_MAX_BYTES).toBe(16 * 1024);
    const ok = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(ok);
    expect(ok.connected).toBe(true);
  });

  it('after log-in, a 100 KB publish closes the connection and is never delivered; 60 KB (a deploy\'s size) goes through', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const sub = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(sub);
    const got: number[] = [];
    sub.on('message', (_t, p) => got.push(p.length));
    await sub.subscribeAsync('spBv1.0/#', { qos: 0 });
    const pub = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(pub);
    await pub.publishAsync('spBv1.0/plant1/DCMD/gw1/loop1', Buffer.alloc(60_000), { qos: 0 });
    await wait(200);
    expect(got).toEqual([60_000]);
    const closed = new Promise<void>((r) => pub.once('close', () => r()));
    pub.publish('spBv1.0/plant1/DCMD/gw1/loop1', Buffer.alloc(100_000), { qos: 0 });
    await closed;
    await wait(200);
    expect(got).toEqual([60_000]);
    expect(broker.counters.oversized).toBe(1);
    expect(PACKET_MAX_BYTES).toBeLessThan(100_000);
  });

  it('through the guard, a client that publishes 3,000 messages and leaves cleanly (DISCONNECT, then its end) has every one delivered and no Will', async () => {
    broker = await startEmbeddedBroker();
    const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    clients.push(sub);
    let got = 0;
    let wills = 0;
    sub.on('message', (t) => { if (t === 'spBv1.0/plant1/NDEATH/gwT') wills++; else got++; });
    await sub.subscribeAsync('spBv1.0/#', { qos: 1 });
    const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, will: { topic: 'spBv1.0/plant1/NDEATH/gwT', payload: Buffer.from('x'), qos: 1, retain: false } });
    for (let i = 0; i < 3000; i++) pub.publish('spBv1.0/plant1/DDATA/gwT/loop', Buffer.alloc(100), { qos: 1 });
    await pub.endAsync();
    for (let i = 0; i < 200 && got < 3000; i++) await wait(20);
    await wait(200);
    expect(got).toBe(3000);
    expect(wills).toBe(0);
  });

  it('an agent\'s retained publish is refused (counted agent-retain) and a new subscriber gets nothing; the same publish not retained goes through', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const agent = await mqtt.connectAsync(broker.url, { username: 'gw1', password: 'gw1-secret', reconnectPeriod: 0 });
    clients.push(agent);
    await agent.publishAsync('spBv1.0/plant1/DDATA/gw1/loop1', Buffer.alloc(1000), { qos: 1, retain: true });
    await wait(100);
    expect(broker.counters.denied.byReason['agent-retain']).toBe(1);
    const late = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(late);
    const got: string[] = [];
    late.on('message', (t) => got.push(t));
    await late.subscribeAsync('spBv1.0/#', { qos: 1 });
    await agent.publishAsync('spBv1.0/plant1/DDATA/gw1/loop1', Buffer.alloc(1000), { qos: 1 });
    await wait(200);
    expect(got).toEqual(['spBv1.0/plant1/DDATA/gw1/loop1']);   // the live one only; nothing retained
  });

  it('a retained command is refused from anyone, the coordinator too (counted command-retain); the agent never gets it replayed', async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    const coord = await mqtt.connectAsync(broker.url, { username: 'coord', password: 'coord-secret', reconnectPeriod: 0 });
    clients.push(coord);
    await coord.publishAsync('spBv1.0/plant1/DCMD/gw1/loop1', Buffer.alloc(10), { qos: 1, retain: true });
    await coord.publishAsync('spBv1.0/plant1/NCMD/gw1', Buffer.alloc(10), { qos: 1, retain: true });
    await wait(100);
    expect(broker.counters.denied.byReason['command-retain']).toBe(2);
    const agent = await mqtt.connectAsync(broker.url, { username: 'gw1', password: 'gw1-secret', reconnectPeriod: 0 });
    clients.push(agent);
    const got: string[] = [];
    agent.on('message', (t) => got.push(t));
    await agent.subscribeAsync(['spBv1.0/plant1/DCMD/gw1/loop1', 'spBv1.0/plant1/NCMD/gw1'], { qos: 1 });
    await coord.publishAsync('spBv1.0/plant1/DCMD/gw1/loop1', Buffer.alloc(10), { qos: 1 });
    await wait(200);
    expect(got).toEqual(['spBv1.0/plant1/DCMD/gw1/loop1']);   // the live one only
  });
});
