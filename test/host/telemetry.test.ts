// Telemetry history in a real SQLite database (better-sqlite3): batched
// writes, per-agent history, alarms and retention.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TelemetryStore } from '../../host/telemetry/store.js';

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
    expect(h[0]).toEqual({ agent: 'a', tMs: 10_000, setpoint: 80, measurement: 79 + (100 % 3), output: 40, mode: 'NOMINAL' });
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
