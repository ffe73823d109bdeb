// docs/gateway.md, followed as written: every ```sh block from step 2 on runs
// in a fresh directory where `npx edgeloop` is this package (step 1's
// install is test/host/package.test.ts's). The only change: its ports (1883,
// 1502, 8080) become free ones, so that runs in parallel do not collide.
// Each block runs in a process group of its own, with what it starts in the
// background; those groups are ended at the end, by their PIDs.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = join(ROOT, 'docs/gateway.md');

/** The ```sh blocks of the doc from the heading `from` on. */
export function shellBlocks(markdown: string, from: RegExp): string[] {
  const start = markdown.search(from);
  expect(start, `heading ${from} in docs/gateway.md`).toBeGreaterThanOrEqual(0);
  return [...markdown.slice(start).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/**
 * Run one block with bash in a process group of its own (detached): what it
 * starts in the background stays in that group, which `groups` records so
 * that the end of the test can end all of it, by the group's PID.
 */
function runBlock(script: string, cwd: string, log: string, groups: number[]): Promise<number | null> {
  const fd = openSync(log, 'a');
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-c', script], { cwd, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, EDGELOOP_PASSWORD: '' } });
    if (child.pid) groups.push(child.pid);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => { clearTimeout(timer); closeSync(fd); resolve(code); });
  });
}

describe('docs/gateway.md, followed as written', () => {
  it('broker with users, a Modbus device, an agent from its configuration file, the coordinator with operators, and an operator\'s commands', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-gateway-'));
    mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules/edgeloop'));
    symlinkSync('../edgeloop/bin/edgeloop.js', join(dir, 'node_modules/.bin/edgeloop'));
    const ports = { 1883: await freePort(), 1502: await freePort(), 8080: await freePort() };
    const blocks = shellBlocks(readFileSync(DOC, 'utf8'), /^## 2\. /m)
      .map((b) => b.replace(/\b(1883|1502|8080)\b/g, (p) => String(ports[Number(p) as keyof typeof ports])));
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const log = join(dir, 'walkthrough.log');
    const groups: number[] = [];
    const codes: (number | null)[] = [];
    try {
      for (const b of blocks) codes.push(await runBlock(b, dir, log, groups));
      // The agent's status line comes every 5 s (statusEveryS): wait for one, a bounded number of times.
      const status = /agent plant1\/gw1\/loop: t=\d+ s NOMINAL measurement \d+\.\d+ output \d+\.\d+ ticks [1-9]\d*/;
      for (let i = 0; i < 200 && !status.test(readFileSync(log, 'utf8')); i++) await new Promise((r) => setTimeout(r, 100));
      const out = readFileSync(log, 'utf8');
      expect(codes, out).toEqual(blocks.map(() => 0));
      expect(out).toMatch(/broker: listening at mqtt:\/\/127\.0\.0\.1:\d+ \(log-in required; per-agent ACLs\)/);
      expect(out).toMatch(/modbus-sim: Modbus TCP on 127\.0\.0\.1:\d+/);
      expect(out).toMatch(/agent plant1\/gw1\/loop: Thermal chamber.*\(edgeloop modbus-sim\); setpoint 80 C/);
      expect(out).toMatch(/dashboard http:\/\/127\.0\.0\.1:\d+\/ .*operators may log in and command/);
      expect(out).toMatch(/plant1\/gw1\/loop: setpoint 70: accepted/);
      expect(out).toMatch(/plant1\/gw1\/loop: reset: accepted/);
      // The dashboard says log-ins are on, and the agent closed the loop over Modbus (NOMINAL, ticking).
      const session = await (await fetch(`http://127.0.0.1:${ports[8080]}/api/session`)).json() as { operators: boolean };
      expect(session.operators).toBe(true);
      expect(out).toMatch(status);
    } finally {
      for (const g of [...groups].reverse()) {
        try { process.kill(-g, 'SIGTERM'); } catch { /* the group is gone */ }
      }
      await new Promise((r) => setTimeout(r, 1500));
      for (const g of groups) {
        try { process.kill(-g, 'SIGKILL'); } catch { /* ended on SIGTERM */ }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
