// Each part on its own, as separate processes the way a deployment runs
// them: `edgeloop broker` with a users file (log-ins and per-agent ACLs),
// `edgeloop coordinator` (telemetry and dashboard), `edgeloop agent`, and
// `edgeloop dashboard` as a passive observer. They find each other over
// MQTT on loopback and all stop cleanly on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, wait } from '../support/brokers.js';

const BIN = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
const procs: { p: ChildProcess; out: () => string }[] = [];
afterEach(() => { for (const { p } of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL'); });

function start(...args: string[]) {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => { out += d; });
  p.stderr!.on('data', (d) => { out += d; });
  const h = { p, out: () => out };
  procs.push(h);
  return h;
}

async function until(pred: () => boolean, what: () => string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await wait(50);
  expect(pred(), what()).toBe(true);
}

const stop = (h: { p: ChildProcess }) => new Promise<number | null>((r) => { h.p.once('exit', (c) => r(c)); h.p.kill('SIGTERM'); });

describe('the parts as separate processes', () => {
  it('broker (users, ACLs), coordinator, agent and dashboard find each other and stop cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-parts-'));
    const users = join(dir, 'users.json');
    writeFileSync(users, JSON.stringify({ users: [
      { username: 'coord', password: 'coord-secret', role: 'coordinator' },
      { username: 'gw1', password: 'gw1-secret', role: 'agent', group: 'plant1', node: 'gw1' },
      { username: 'viewer', password: 'viewer-secret', role: 'observer' },
    ] }));
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const broker = start('broker', '--port', String(port), '--users', users);
    await until(() => broker.out().includes('listening'), () => broker.out());
    expect(broker.out()).toMatch(/log-in required; per-agent ACLs/);

    const coord = start('coordinator', '--broker', url, '--username', 'coord', '--password', 'coord-secret', '--db', join(dir, 'c.db'), '--dashboard-port', '0');
    const agent = start('agent', '--broker', url, '--username', 'gw1', '--password', 'gw1-secret', '--node', 'gw1', '--primary-host', 'edgeloop-coordinator', '--status-every', '0');
    const intruder = start('agent', '--broker', url, '--username', 'gw1', '--password', 'wrong-password', '--node', 'gw2', '--status-every', '0');
    const dash = start('dashboard', '--broker', url, '--username', 'viewer', '--password', 'viewer-secret', '--db', join(dir, 'd.db'), '--port', '0');
    await until(() => /coordinator: plant1\/gw1\/loop online NOMINAL/.test(coord.out()), () => coord.out() + agent.out());
    await until(() => /dashboard: plant1\/gw1\/loop online NOMINAL/.test(dash.out()), () => dash.out());
    expect(coord.out()).not.toMatch(/gw2/);

    const dashUrl = /dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.exec(coord.out())![1];
    const state = await (await fetch(`${dashUrl}api/state`)).json() as { agents: { key: string; health: string }[] };
    expect(state.agents.map((a) => `${a.key} ${a.health}`)).toEqual(['plant1/gw1/loop online']);
    expect(await (await fetch(`${dashUrl}metrics`)).text()).toMatch(/^edgeloop_agents\{health="online"\} 1$/m);
    const hist = await (await fetch(`${dashUrl}api/history?agent=plant1/gw1/loop&since=0`)).json() as { samples?: unknown[] } | unknown[];
    expect(JSON.stringify(hist)).toMatch(/measurement/);

    for (const h of [intruder, dash, agent, coord]) expect(await stop(h), h.out()).toBe(0);
    expect(await stop(broker)).toBe(0);
    expect(broker.out()).toMatch(/refused: \d+ publishes, \d+ subscriptions, [1-9]\d* log-ins/);
  }, 60_000);
});
