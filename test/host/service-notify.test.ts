// The systemd notifications (host/cli/service-notify.ts): READY=1 once a part
// serves, WATCHDOG=1 every half period only while it is healthy, nothing
// without NOTIFY_SOCKET. `systemd-notify` is stood in for by a script that
// writes down what it was asked (a unit test of the protocol's use; the
// units themselves are checked in service-files.test.ts).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serviceNotifier, watchdogPeriodMs } from '../../host/cli/service-notify.js';
import { startEmbeddedBroker } from '../../host/mqtt/broker.js';

const BIN = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in systemd-notify that appends its arguments, one call per line, to `log`. */
function standIn(): { dir: string; program: string; log: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-notify-'));
  const log = join(dir, 'calls');
  const program = join(dir, 'systemd-notify');
  writeFileSync(program, `#!/bin/sh\necho "$*" >> '${log}'\n`);
  chmodSync(program, 0o755);
  return { dir, program, log, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

describe('systemd notifications', () => {
  it('the watchdog period comes from WATCHDOG_USEC, only when it is meant for this process', () => {
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '20000000' })).toBe(20_000);
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid) })).toBe(20_000);
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid + 1) })).toBeNull();
    expect(watchdogPeriodMs({ WATCHDOG_USEC: 'x' })).toBeNull();
    expect(watchdogPeriodMs({})).toBeNull();
  });

  it('no NOTIFY_SOCKET: nothing runs; with it: READY with a status, and the keep-alive only while healthy', async () => {
    const s = standIn();
    serviceNotifier({ env: {}, program: s.program }).ready('up');
    await wait(200);
    expect(s.calls()).toEqual([]);

    let healthy = false;
    const env = { NOTIFY_SOCKET: '/run/nothing', WATCHDOG_USEC: '200000', PATH: process.env.PATH };
    const n = serviceNotifier({ env, program: s.program, healthy: () => healthy });
    n.ready('loop up');
    for (let i = 0; i < 50 && s.calls().length < 1; i++) await wait(20);
    await wait(400);   // four half-periods while unhealthy: no keep-alive
    expect(s.calls()).toEqual([`--pid=${process.pid} --ready --status=loop up`]);
    healthy = true;
    for (let i = 0; i < 100 && s.calls().filter((c) => c.endsWith('WATCHDOG=1')).length < 2; i++) await wait(20);
    n.close();
    expect(s.calls().filter((c) => c === `--pid=${process.pid} WATCHDOG=1`).length).toBeGreaterThanOrEqual(2);
  });

  it('an agent under systemd says it is ready and keeps its watchdog fed while its loop ticks', async () => {
    const s = standIn();
    const broker = await startEmbeddedBroker({ port: 0 });
    const child = spawn(process.execPath, [BIN, 'agent', '--broker', broker.url, '--node', 'svc1', '--status-every', '0'], {
      env: { ...process.env, PATH: `${s.dir}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/nothing', WATCHDOG_USEC: '400000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      for (let i = 0; i < 300 && s.calls().filter((c) => c.endsWith('WATCHDOG=1')).length < 2; i++) await wait(20);
      const calls = s.calls();
      expect(calls[0]).toMatch(/^--pid=\d+ --ready --status=loop plant1\/svc1\/loop running$/);
      expect(calls.filter((c) => c.endsWith('WATCHDOG=1')).length).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await broker.close();
    }
  }, 30_000);
});
