// Telemetry history in a real SQLite database (better-sqlite3): batched
// writes, per-agent history, alarms and retention; the recorder that turns
// agents' Sparkplug payloads (through the real codec) into rows and alarms.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { decodePayload, encodePayload, type Metric, type Payload } from '../../host/mqtt/codec.js';
import { DEDUP_SAMPLES, Recorder } from '../../host/telemetry/recorder.js';
import { StoreOpenError, TelemetryStore } from '../../host/telemetry/store.js';
import { coordinatorRegistry } from '../../host/telemetry/metrics.js';
import { GUARD_STATUS } from '../../host/runtime/abi.js';

describe('telemetry store (SQLite)', () => {
  it('stores batches, reads one agent back in order, keeps alarms, and enforces retention', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeloop-tel-')), 'history.db');
    const store = new TelemetryStore(path);
    for (let t = 0; t < 1000; t++) {
      for (const agent of ['a', 'b']) store.add({ agent, tMs: t * 100, setpoint: 80, measurement: 79 + (t % 3), output: 40, mode: t < 900 ? 'NOMINAL' : 'FALLBACK' });
    }
    expect(store.flush()).toBe(2000);
    store.alarm({ agent: 'a', tMs: 90_000, kind: 'trip', monitor: 'est_cusum', stage: 'actuation' });
    const h = store.history('a', 10_000, 19_900);
    expect(h).toHaveLength(100);
    // Rows written through the first API (no sample counter) read back with the new columns null.
    expect(h[0]).toMatchObject({ agent: 'a', tMs: 10_000, setpoint: 80, measurement: 79 + (100 % 3), output: 40, mode: 'NOMINAL', sample: null, recvMs: null, cause: null });
    expect(h[0].storedMs).toEqual(expect.any(Number));
    expect(h.every((s, i) => i === 0 || s.tMs > h[i - 1].tMs)).toBe(true);
    expect(store.alarms(0)).toEqual([{ agent: 'a', tMs: 90_000, kind: 'trip', monitor: 'est_cusum', stage: 'actuation' }]);
    expect(store.retain(50_000)).toBe(1000);
    expect(store.history('b', 0, 1e9)).toHaveLength(500);
    store.close();
    // It is a real file: reopen and read.
    const again = new TelemetryStore(path);
    expect(again.history('a', 0, 1e9)).toHaveLength(500);
    again.close();
  });
});

// ---- the recorder: Sparkplug payloads (real codec) to rows and alarms ----

interface Tick { sample?: number; mode?: string; cause?: string; setpoint?: number; measurement?: number; output?: number;
  /** The trip output (absent: an agent that does not report one), its cause, and the guard's status bits. */
  trip?: boolean; tripCause?: string; guard?: number }

/** An agent's DDATA payload as it crosses the wire: encoded and decoded by the real codec. */
function wire(tMs: number, t: Tick): Payload {
  const metrics: Metric[] = [
    { name: 'setpoint', type: 'Double', value: t.setpoint ?? 80 },
    { name: 'measurement', type: 'Double', value: t.measurement ?? 79.5 },
    { name: 'output', type: 'Double', value: t.output ?? 42 },
    { name: 'mode', type: 'String', value: t.mode ?? 'NOMINAL' },
    { name: 'cause', type: 'String', value: t.cause ?? '' },
    { name: 'tick_us', type: 'UInt64', value: tMs * 1000 },
  ];
  if (t.sample !== undefined) metrics.push({ name: 'sample', type: 'UInt64', value: t.sample });
  if (t.trip !== undefined) {
    metrics.push({ name: 'trip', type: 'Boolean', value: t.trip }, { name: 'trip/cause', type: 'String', value: t.tripCause ?? '' },
      { name: 'guard/status', type: 'Int32', value: t.guard ?? (t.trip ? GUARD_STATUS.tripped : 0) });
  }
  return decodePayload(encodePayload({ timestamp: tMs, metrics }));
}

const T0 = 1_700_000_000_000;

describe('recorder', () => {
  it('stores every sample with its own number and time: a spooled burst fills its gap, a lost run shows as a gap', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    // a: live 0..49; broker outage while it takes 50..59 (spooled); back at 60.
    // b: loses 20..24 for good (no spool).
    for (let i = 0; i < 50; i++) {
      rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100 + 3);
      if (i < 20 || i > 24) rec.record('p/gw/b', wire(T0 + i * 100, { sample: i }), T0 + i * 100 + 3);
    }
    const back = T0 + 6000 + 3;
    // On reconnect the spool is replayed in one burst, then live samples follow; 55 arrives twice
    // (resent after the drop: the same number and time), and is recorded once.
    for (let i = 50; i < 60; i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), back);
    rec.record('p/gw/a', wire(T0 + 5500, { sample: 55 }), back);
    for (let i = 60; i < 70; i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100 + 3);
    expect(rec.flush()).toBe(70 + 45);

    expect(store.gaps('p/gw/a')).toEqual([]);
    expect(store.gaps('p/gw/b')).toEqual([{ fromSample: 20, toSample: 24 }]);
    expect(store.counts()).toEqual([
      { agent: 'p/gw/a', samples: 70, distinct: 70, firstSample: 0, lastSample: 69, firstMs: T0, lastMs: T0 + 6900 },
      { agent: 'p/gw/b', samples: 45, distinct: 45, firstSample: 0, lastSample: 49, firstMs: T0, lastMs: T0 + 4900 },
    ]);
    // The spooled sample keeps the time it was taken; recv_ms says it came late.
    const s53 = store.history('p/gw/a', T0 + 5300, T0 + 5300)[0];
    expect(s53).toMatchObject({ sample: 53, tMs: T0 + 5300, recvMs: back, setpoint: 80, measurement: 79.5, output: 42, mode: 'NOMINAL', cause: '' });
    expect(store.latest('p/gw/a', 3).map((s) => s.sample)).toEqual([67, 68, 69]);
    expect(rec.counts).toMatchObject({ samples: 115, incomplete: 0, duplicates: 1 });
    rec.close();
    store.close();
  });

  it('a resend longer than the duplicate memory: what is remembered is caught in memory, the rest by the database, nothing stored twice', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    for (let i = 0; i < 3000; i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100);
    // The last 1,100 samples again (same numbers, same times): the newest DEDUP_SAMPLES of them are caught.
    for (let i = 3000 - 1100; i < 3000; i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + 400_000);
    rec.flush();
    expect(rec.counts.duplicates).toBe(DEDUP_SAMPLES);
    // The rest are caught by the database itself (unique on agent, sample and time): none is stored twice.
    expect(store.health.duplicates).toBe(1100 - DEDUP_SAMPLES);
    expect(store.counts()[0]).toMatchObject({ samples: 3000, distinct: 3000 });
    // A restarted agent counts from 0 again, at later times: those are new samples, not duplicates.
    for (let i = 0; i < 5; i++) rec.record('p/gw/a', wire(T0 + 500_000 + i * 100, { sample: i }), T0 + 500_000);
    rec.flush();
    expect(rec.counts.duplicates).toBe(DEDUP_SAMPLES);
    rec.close();
    store.close();
  });

  it('rows without a sample number and alarms are stored once too, however often they are written', () => {
    // NULLs are distinct in a UNIQUE index: a row without a sample number gets its own (agent, time) key.
    const store = new TelemetryStore(':memory:');
    const row = { agent: 'p/gw/a', tMs: T0, setpoint: 80, measurement: 79.5, output: 40, mode: 'NOMINAL' };
    for (let k = 0; k < 3; k++) store.add({ ...row });
    store.add({ ...row, tMs: T0 + 100 });
    for (let k = 0; k < 2; k++) store.addAlarm({ agent: 'p/gw/a', tMs: T0 + 50, kind: 'trip', monitor: 'sens_stuck', stage: 'sensing' });
    store.addAlarm({ agent: 'p/gw/a', tMs: T0 + 60, kind: 'clear', monitor: 'sens_stuck', stage: 'sensing' });
    store.flush();
    expect(store.history('p/gw/a', T0, T0 + 1000).map((r) => r.tMs)).toEqual([T0, T0 + 100]);
    expect(store.alarms(T0).map((a) => a.kind)).toEqual(['trip', 'clear']);
    store.close();
  });

  it('writes a trip when the first-out cause appears or changes, a clear when it goes, a mode row per mode change', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    const at = (i: number) => T0 + i * 100;
    // 0..9 nominal -> sensor stuck at 10: FALLBACK, first-out sens_stuck/sensing
    // -> at 20 the cause is renamed (isolation) -> at 30 it clears, back to NOMINAL.
    for (let i = 0; i < 40; i++) {
      if (i === 15) continue;   // spooled: it comes later
      const tick: Tick = i < 10 || i >= 30 ? { sample: i } : i < 20 ? { sample: i, mode: 'FALLBACK', cause: 'sens_stuck/sensing' } : { sample: i, mode: 'FALLBACK', cause: 'est_cusum/actuation' };
      rec.record('p/gw/a', wire(at(i), tick), at(i) + 2);
    }
    // A spooled sample from the fault arrives late: stored, but it does not move the alarm state back.
    rec.record('p/gw/a', wire(at(15), { sample: 15, mode: 'FALLBACK', cause: 'sens_stuck/sensing' }), at(40));
    rec.flush();
    expect(store.alarms(0)).toEqual([
      { agent: 'p/gw/a', tMs: at(10), kind: 'mode', monitor: 'FALLBACK', stage: 'NOMINAL' },
      { agent: 'p/gw/a', tMs: at(10), kind: 'trip', monitor: 'sens_stuck', stage: 'sensing' },
      { agent: 'p/gw/a', tMs: at(20), kind: 'trip', monitor: 'est_cusum', stage: 'actuation' },
      { agent: 'p/gw/a', tMs: at(30), kind: 'mode', monitor: 'NOMINAL', stage: 'FALLBACK' },
      { agent: 'p/gw/a', tMs: at(30), kind: 'clear', monitor: 'est_cusum', stage: 'actuation' },
    ]);
    expect(rec.counts).toMatchObject({ samples: 40, alarms: 5, late: 1, duplicates: 0 });
    expect(store.history('p/gw/a', at(15), at(15))).toHaveLength(1);
    rec.close();
    store.close();
  });

  it('contrapositive: a nominal loop writes no alarm; an agent first seen tripped raises its trip at once', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    for (let i = 0; i < 500; i++) rec.record('p/gw/ok', wire(T0 + i * 100, { sample: 1000 + i }), T0 + i * 100);
    rec.record('p/gw/late', wire(T0, { sample: 7, mode: 'SAFE_STOP', cause: 'core_integrity/core' }), T0);
    rec.flush();
    expect(store.alarms(0)).toEqual([{ agent: 'p/gw/late', tMs: T0, kind: 'trip', monitor: 'core_integrity', stage: 'core' }]);
    rec.close();
    store.close();
  });

  it('writes the trip output\'s changes as alarm rows with the cause it tripped for: de-energized, failed, energized again', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    const at = (i: number) => T0 + i * 100;
    const tripped = GUARD_STATUS.tripped | GUARD_STATUS.latched;
    // 0..9 nominal -> a reversed heater trips at 10 (act_reversed/actuation) -> at 20 the heater's meter still
    // shows power: the trip failed -> at 30 it shows none (the contactor opened late) -> at 40 released, NOMINAL.
    for (let i = 0; i < 50; i++) {
      if (i === 25) continue;   // spooled: it comes later
      const tick: Tick = i < 10 || i >= 40 ? { sample: i, trip: false }
        : { sample: i, mode: 'SAFE_STOP', trip: true, tripCause: 'act_reversed/actuation', guard: i >= 20 && i < 30 ? tripped | GUARD_STATUS.trip_failed : tripped };
      rec.record('p/gw/a', wire(at(i), tick), at(i) + 2);
    }
    // The spooled sample from the failed trip arrives late: stored with its trip state, no alarm moved back.
    rec.record('p/gw/a', wire(at(25), { sample: 25, mode: 'SAFE_STOP', trip: true, tripCause: 'act_reversed/actuation', guard: tripped | GUARD_STATUS.trip_failed }), at(50));
    rec.flush();
    expect(store.alarms(0).filter((a) => a.kind !== 'mode')).toEqual([
      { agent: 'p/gw/a', tMs: at(10), kind: 'trip_out', monitor: 'act_reversed', stage: 'actuation' },
      { agent: 'p/gw/a', tMs: at(20), kind: 'trip_failed', monitor: 'act_reversed', stage: 'actuation' },
      { agent: 'p/gw/a', tMs: at(40), kind: 'trip_release', monitor: 'act_reversed', stage: 'actuation' },
    ]);
    expect(store.history('p/gw/a', at(9), at(10)).map((r) => r.tripped)).toEqual([false, true]);
    expect(store.history('p/gw/a', at(25), at(25))[0].tripped).toBe(true);
    expect(rec.counts.late).toBe(1);
    rec.close();
    store.close();
  });

  it('contrapositive: an agent that never trips, or reports no trip at all, writes no trip row; one first seen tripped raises it at once', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    for (let i = 0; i < 200; i++) {
      rec.record('p/gw/ok', wire(T0 + i * 100, { sample: i, trip: false }), T0 + i * 100);
      rec.record('p/gw/old', wire(T0 + i * 100, { sample: i }), T0 + i * 100);
    }
    rec.record('p/gw/late', wire(T0, { sample: 7, mode: 'SAFE_STOP', trip: true, tripCause: 'host' }), T0);
    rec.flush();
    expect(store.alarms(0)).toEqual([{ agent: 'p/gw/late', tMs: T0, kind: 'trip_out', monitor: 'host', stage: '' }]);
    expect(store.latest('p/gw/old', 1)[0].tripped).toBeNull();
    expect(store.latest('p/gw/ok', 1)[0].tripped).toBe(false);
    rec.close();
    store.close();
  });

  it('an agent that restarts (counter back to 0, time forward) is new state, not a late replay', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    rec.record('p/gw/a', wire(T0, { sample: 900 }), T0);
    rec.record('p/gw/a', wire(T0 + 5000, { sample: 0, mode: 'FALLBACK', cause: 'sens_lost/sensing' }), T0 + 5000);
    rec.flush();
    expect(store.alarms(0).map((a) => a.kind)).toEqual(['mode', 'trip']);
    expect(rec.counts.late).toBe(0);
    rec.close();
    store.close();
  });

  it('stores a payload with missing or mistyped fields as nulls and never throws', () => {
    const store = new TelemetryStore(':memory:');
    const rec = new Recorder(store, { flushMs: 0 });
    const bare = decodePayload(encodePayload({ timestamp: T0, metrics: [{ name: 'measurement', type: 'Double', value: 12.5 }] }));
    const mistyped = decodePayload(encodePayload({ timestamp: T0 + 100, metrics: [
      { name: 'setpoint', type: 'String', value: 'eighty' }, { name: 'mode', type: 'Int32', value: 3 }, { name: 'sample', type: 'String', value: '4' },
    ] }));
    expect(() => {
      rec.record('p/gw/x', bare, T0 + 1);
      rec.record('p/gw/x', mistyped, T0 + 101);
      rec.record('p/gw/x', { timestamp: Number.NaN, metrics: null } as unknown as Payload, T0 + 201);
      rec.record('p/gw/x', null as unknown as Payload, T0 + 301);
      rec.record('p/gw/x', { timestamp: T0 + 400, metrics: [null, { name: 'sample', value: -1 }] } as unknown as Payload, T0 + 401);
    }).not.toThrow();
    rec.flush();
    const rows = store.history('p/gw/x', 0, 1e15);
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatchObject({ tMs: T0, measurement: 12.5, setpoint: null, output: null, mode: null, cause: null, sample: null, recvMs: T0 + 1 });
    expect(rows[1]).toMatchObject({ setpoint: null, mode: null, sample: null });
    // Without a valid timestamp a sample is kept at the time it arrived.
    expect(rows.map((r) => r.tMs)).toEqual([T0, T0 + 100, T0 + 201, T0 + 301, T0 + 400]);
    expect(rec.counts).toMatchObject({ samples: 5, incomplete: 5, alarms: 0 });
    rec.close();
    store.close();
  });

  it('applies retention as it flushes, bounded per pass, alarms included', () => {
    let now = T0;
    const store = new TelemetryStore(':memory:', { retainMs: 60_000 });
    const rec = new Recorder(store, { flushMs: 0, clockMs: () => now });
    // Ten minutes of one agent at 10 Hz, flushed once a second.
    for (let i = 0; i < 6000; i++) {
      now = T0 + i * 100;
      rec.record('p/gw/a', wire(now, { sample: i, cause: i === 100 ? 'sens_spike/sensing' : '' }), now);
      if (i % 10 === 9) rec.flush();
    }
    const kept = store.history('p/gw/a', 0, 1e15);
    // Nothing older than the cutoff of the last flush survives.
    expect(kept[0].tMs).toBeGreaterThanOrEqual(now - 60_000);
    expect(kept.length).toBeLessThanOrEqual(601);
    expect(store.alarms(0)).toEqual([]);
    expect(() => new TelemetryStore(':memory:', { retainMs: -5 })).toThrow(/retainMs must be a positive number of ms, got -5/);
    expect(() => new TelemetryStore(':memory:', { synchronous: 'full' as 'off' })).toThrow(/synchronous must be 'normal' or 'off', got "full"/);
    expect(() => new Recorder(store, { flushMs: -1 })).toThrow(/flushMs must be >= 0 ms, got -1/);
    // Bounded by hand: at most maxSamples per call, the oldest first.
    for (let i = 0; i < 100; i++) store.add({ agent: 'p/gw/b', tMs: i, setpoint: null, measurement: null, output: null, mode: 'NOMINAL' });
    store.flush();
    expect(store.retain(50, 10)).toBe(10);
    expect(store.history('p/gw/b', 0, 1e15)[0].tMs).toBe(10);
    rec.close();
    store.close();
  });

  it('flushes on its own: every flushMs, and at once past flushRows; close() writes the rest', async () => {
    const store = new TelemetryStore(':memory:');
    const bySize = new Recorder(store, { flushMs: 0, flushRows: 10 });
    for (let i = 0; i < 25; i++) bySize.record('p/gw/s', wire(T0 + i, { sample: i }), T0 + i);
    expect(store.counts()[0]?.samples).toBe(20);
    bySize.close();
    expect(store.counts()[0]?.samples).toBe(25);
    expect(() => bySize.record('p/gw/s', wire(T0, { sample: 0 }), T0)).toThrow(/recorder is closed/);

    const byTime = new Recorder(store, { flushMs: 20 });
    byTime.record('p/gw/t', wire(T0, { sample: 0 }), T0);
    for (let i = 0; i < 50 && store.counts().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.counts().map((c) => c.agent)).toEqual(['p/gw/s', 'p/gw/t']);
    byTime.close();
    store.close();
  });

  it('a full disk (a quota on the file): the flush does not throw, the batch is kept and counted (and shown on /metrics), retried with back-off; once there is room every row is written, none lost', async () => {
    // A 160 KiB quota fills after a few thousand rows -> SQLITE_FULL ->
    // lastError, the rows wait (pending), a flush inside the back-off writes
    // nothing -> retention frees pages (the oldest rows, by their own
    // choice) -> the next try after the back-off writes what waited.
    let now = T0;
    const path = join(mkdtempSync(join(tmpdir(), 'edgeloop-full-')), 'full.db');
    const store = new TelemetryStore(path, { maxBytes: 160 * 1024, clockMs: () => now });
    const rec = new Recorder(store, { flushMs: 0, clockMs: () => now });
    let i = 0;
    while (store.health.lastError === null && i < 100_000) {
      for (let k = 0; k < 100; k++, i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100);
      expect(() => rec.flush()).not.toThrow();
    }
    expect(store.health.lastError).toMatch(/^SQLITE_FULL: /);
    expect(store.health.writeErrors).toBe(1);
    expect(store.health.pending).toBe(100);
    const stored = store.counts()[0].samples;
    expect(stored).toBe(i - 100);
    // /metrics says so (a coordinator's registry over this store).
    const metrics = await coordinatorRegistry({ agents: new Map(), commands: new Map(), decisions: [], rejected: { malformed: 0, dropped: 0, tooManyDevices: 0, tooManyNodes: 0, unborn: 0, staleDeaths: 0, skippedMetrics: 0 }, rebirths: { requested: 0, limited: 0 }, seqGaps: 0, stateReasserted: 0 } as never, store).metrics();
    expect(metrics).toMatch(/^edgeloop_store_failing 1$/m);
    expect(metrics).toMatch(/^edgeloop_store_pending_rows 100$/m);
    expect(metrics).toMatch(/^edgeloop_store_write_errors 1$/m);
    // Within the back-off, nothing is tried.
    now += 50;
    expect(rec.flush()).toBe(0);
    expect(store.health.writeErrors).toBe(1);
    // Room again (the oldest half dropped by retention), then the next try writes the 100 that waited.
    store.retain(T0 + Math.floor(stored / 2) * 100);
    now += 100;
    expect(rec.flush()).toBe(100);
    expect(store.health).toMatchObject({ lastError: null, pending: 0, dropped: 0, retryAtMs: null });
    expect(store.counts()[0]).toMatchObject({ lastSample: i - 1 });
    expect(store.gaps('p/gw/a')).toEqual([]);
    rec.close();
    store.close();
  });

  it('a recorder restarted on the same file: samples it had stored, replayed by the agents, are not stored twice', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeloop-restart-')), 'h.db');
    const first = new TelemetryStore(path);
    const rec1 = new Recorder(first, { flushMs: 0 });
    for (let i = 0; i < 100; i++) rec1.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100);
    rec1.close();
    first.close();
    // The restarted recorder remembers nothing; the agents resend their last 20 samples after the new births.
    const second = new TelemetryStore(path);
    const rec2 = new Recorder(second, { flushMs: 0 });
    for (let i = 80; i < 110; i++) rec2.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + 20_000);
    rec2.close();
    expect(second.counts()[0]).toMatchObject({ samples: 110, distinct: 110 });
    expect(second.health.duplicates).toBe(20);
    second.close();
  });

  it('a history file that is corrupted, or not a database at all, is named at open with what to do; a sound one opens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-corrupt-'));
    const path = join(dir, 'h.db');
    const s = new TelemetryStore(path);
    const rec = new Recorder(s, { flushMs: 0 });
    for (let i = 0; i < 5000; i++) rec.record('p/gw/a', wire(T0 + i * 100, { sample: i }), T0 + i * 100);
    rec.close();
    s.close();
    // Scribble over pages in the middle of the file (the header, page 1, stays sound).
    const bytes = readFileSync(path);
    for (let k = 8192; k < Math.min(bytes.length, 8192 + 4 * 4096); k++) bytes[k] = (k * 7919) & 0xff;
    writeFileSync(path, bytes);
    expect(() => new TelemetryStore(path)).toThrow(StoreOpenError);
    expect(() => new TelemetryStore(path)).toThrow(/^telemetry database .*h\.db: fails its integrity check \(.+\); move it aside \(a new one is created\) or restore it from a backup$/);
    const notDb = join(dir, 'notes.txt');
    writeFileSync(notDb, 'these are not the rows you are looking for\n'.repeat(200));
    expect(() => new TelemetryStore(notDb)).toThrow(/^telemetry database .*notes\.txt: .*(not a database|integrity).*; move it aside/);
    const sound = new TelemetryStore(join(dir, 'new.db'));
    expect(sound.health.lastError).toBeNull();
    sound.close();
  });

  it('opens a file written with the first schema and keeps its rows', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeloop-tel-')), 'v1.db');
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE samples (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT NOT NULL);
      CREATE INDEX samples_agent_t ON samples (agent, t_ms);
      INSERT INTO samples VALUES ('a', 1, 80, 79, 40, 'NOMINAL');`);
    v1.close();
    const store = new TelemetryStore(path);
    const rec = new Recorder(store, { flushMs: 0 });
    rec.record('a', { timestamp: 2, metrics: [] }, 3);
    rec.close();
    expect(store.history('a', 0, 10)).toMatchObject([{ tMs: 1, mode: 'NOMINAL', sample: null }, { tMs: 2, mode: null, recvMs: 3 }]);
    store.close();
  });

  it('opens a file written before the trip was recorded: its rows read the trip as not known', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'edgeloop-tel-')), 'v2.db');
    const v2 = new Database(path);
    v2.exec(`CREATE TABLE samples (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT,
        sample INTEGER, recv_ms INTEGER, cause TEXT, stored_ms INTEGER);
      INSERT INTO samples VALUES ('a', 1, 80, 79, 40, 'NOMINAL', 0, 2, '', 3);`);
    v2.close();
    const store = new TelemetryStore(path);
    const rec = new Recorder(store, { flushMs: 0 });
    rec.record('a', wire(5, { sample: 1, mode: 'SAFE_STOP', trip: true, tripCause: 'host' }), 6);
    rec.close();
    expect(store.history('a', 0, 10)).toMatchObject([{ tMs: 1, sample: 0, tripped: null }, { tMs: 5, sample: 1, tripped: true }]);
    store.close();
  });
});
