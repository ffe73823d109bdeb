// The CLI as a user runs it: the demo narrates a caught fault, and bad
// arguments get an error that names them.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('edgeloop CLI', () => {
  it('demo: the stuck sensor is caught at the sensing stage and the loop degrades, envelope kept', () => {
    const r = run('demo', '--fault', 'stuck-sensor', '--seconds', '300');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/FAULT INJECTED: sensor B frozen/);
    expect(r.stdout).toMatch(/sensing stage: sens_stuck tripped -> root cause/);
    expect(r.stdout).toMatch(/mode NOMINAL -> DEGRADED \(reason: sens_stuck\)/);
    expect(r.stdout).toMatch(/envelope kept/);
  });

  it('demo: the weak heater is caught by the model residual, isolated to actuation, and the fallback takes over', () => {
    const r = run('demo', '--fault', 'weak-heater', '--seconds', '300', '--json');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const trip = lines.find((l) => l.kind === 'trip');
    // Detected at the model (est_*), named where it started: the residual grew through the plant.
    expect(trip.monitor).toMatch(/^est_/);
    expect(trip.stage).toBe('actuation');
    expect(lines.find((l) => l.kind === 'mode' && l.to === 'FALLBACK')).toBeDefined();
    expect(lines.at(-1).summary.final_mode).toBe('FALLBACK');
  });

  it('rejects a bad argument with a message naming it', () => {
    const r = run('demo', '--fault', 'meteor');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--fault must be one of all, stuck-sensor, weak-heater, actuator-stuck, none, got 'meteor'/);
    const s = run('demo', '--seconds', 'ten');
    expect(s.status).not.toBe(0);
    expect(s.stderr).toMatch(/--seconds must be an integer/);
  });

  it('has --help', () => {
    const r = run('demo', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--fault <kind>/);
  });
});
