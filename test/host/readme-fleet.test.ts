// The README's fleet walkthrough, run as written: its users file and its
// commands, taken from README.md itself, in a temporary folder (with the
// repository's build/core.wasm, and `npx edgeloop` resolving to this
// repository's bin), on free loopback ports instead of 1883, 8080 and 8081
// (the only change). Each long-running part runs in a process group of its
// own, as in a terminal of its own, and is stopped as Ctrl-C stops it
// (SIGINT to that group); anything left is killed by its PID at the end.
// Then what goes wrong in that walkthrough when a step is missing: deploy
// names a broker it never reached, a log-in that may not read, and an empty
// broker, instead of "no agent seen".
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../host/mqtt/broker.js';
import { generateFleetKey, signModule, writeSignatureFile } from '../../host/deploy/signing.js';
import { freePort } from '../support/brokers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'edgeloop.js');
/** The parts that run until stopped (the others finish). */
const LONG_RUNNING = /^npx edgeloop (broker|coordinator|agent|dashboard)\b/;
/** What each part prints once it is up. */
const READY: Record<string, RegExp> = {
  broker: /^broker: listening at /m,
  coordinator: /^coordinator edgeloop-coordinator: broker .*; dashboard http:/m,
  agent: /^agent plant1\/gw1\/loop: .*; broker mqtt:/m,
  dashboard: /^dashboard edgeloop-dashboard: broker .*; dashboard http:/m,
};
/** Bounds: a part's start, a command's run (the deploy: discovery, canary, a 20 s soak), the whole test. */
const START_MS = 60_000;
const COMMAND_MS = 180_000;

const temps: string[] = [];
const running = new Set<ChildProcess>();
afterAll(() => {
  // Whatever a failed assertion left running: the groups this file started, by their leader's PID.
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** The fleet section's blocks: the users file (```json) and the commands (```sh) after "Every part also runs on its own". */
function walkthrough(): { users: string; commands: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('Every part also runs on its own');
  expect(from, 'the README\'s fleet walkthrough').toBeGreaterThan(0);
  const rest = readme.slice(from, readme.indexOf('\n## ', from));
  const block = (lang: string) => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(rest);
    expect(m, `a \`\`\`${lang} block in the walkthrough`).not.toBeNull();
    return m![1];
  };
  expect(rest).toMatch(/save the log-ins as `users\.json`/);
  // One command per line; a backslash at the end continues it.
  const commands = block('sh').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  return { users: block('json'), commands };
}

interface Part { name: string; proc: ChildProcess; out: () => string }

/** A shell running one line in a folder, in a process group of its own. */
function shell(line: string, cwd: string, env: NodeJS.ProcessEnv): { proc: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const proc = spawn('bash', ['-c', line], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  // 'close': the process has exited and its output (also that of npx's child) is all in.
  const exit = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return { proc, out: () => out, exit };
}

/** Wait until `test` holds, polling; fails with `what` and the output after `ms`. */
async function until(test: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Ctrl-C in the part's terminal: SIGINT to its process group (npx, the shell and node alike); SIGKILL if it does not end within 15 s. */
async function stop(p: Part): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const gone = new Promise((r) => p.proc.once('close', r));
  process.kill(-p.proc.pid!, 'SIGINT');
  const t = setTimeout(() => { try { process.kill(-p.proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000);
  await gone;
  clearTimeout(t);
}

const httpStatus = (url: string) => new Promise<number>((resolve, reject) => {
  get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
});

describe('README: the fleet walkthrough, as written', () => {
  it('keys, broker with log-ins, coordinator, agent, dashboard, a signed deploy: every command works and the rollout is done', async () => {
    const { users, commands } = walkthrough();
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-readme-'));
    temps.push(dir);
    writeFileSync(join(dir, 'users.json'), users);
    mkdirSync(join(dir, 'build'));
    copyFileSync(join(ROOT, 'build', 'core.wasm'), join(dir, 'build', 'core.wasm'));
    // `npx edgeloop` finds a local bin first: this repository's, as after `npm install edgeloop`.
    mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(BIN, join(dir, 'node_modules', '.bin', 'edgeloop'));
    const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', FORCE_COLOR: '0' };

    // The only change: free ports for the broker and the two dashboards.
    const ports = { 1883: await freePort(), 8080: await freePort(), 8081: await freePort() };
    const lines = commands.map((c) => c.replace(/\b(1883|8080|8081)\b/g, (p) => String(ports[Number(p) as keyof typeof ports])));
    for (const p of Object.keys(ports)) expect(commands.join('\n'), `port ${p} in the walkthrough`).toMatch(new RegExp(`\\b${p}\\b`));

    const parts: Part[] = [];
    const log: string[] = [];
    try {
      for (const line of lines) {
        const long = LONG_RUNNING.exec(line.trim());
        const sh = shell(line, dir, env);
        if (long) {
          const part = { name: long[1], proc: sh.proc, out: sh.out };
          parts.push(part);
          await until(() => READY[part.name].test(sh.out()) || sh.proc.exitCode !== null, START_MS, () => `${part.name} to start: ${sh.out()}`);
          expect(sh.proc.exitCode, `${part.name} exited: ${sh.out()}`).toBeNull();
          continue;
        }
        if (/ deploy /.test(line)) {
          // A person looks at the coordinator's console first: the agent is there, and NOMINAL.
          const coord = parts.find((p) => p.name === 'coordinator')!;
          await until(() => /coordinator: plant1\/gw1\/loop online NOMINAL/.test(coord.out()), START_MS, () => `the agent online: ${coord.out()}`);
        }
        const t = setTimeout(() => { try { process.kill(-sh.proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, COMMAND_MS);
        const code = await sh.exit;
        clearTimeout(t);
        log.push(`$ ${line}\n${sh.out()}`);
        expect(code, `${line}\n${sh.out()}`).toBe(0);
      }
      const out = log.join('\n');
      // keygen made keys/ and its two files (the private one for its owner only).
      expect(out).toMatch(/fleet key written: keys\/fleet\.key/);
      expect(statSync(join(dir, 'keys', 'fleet.key')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, 'keys', 'fleet.pub'))).toBe(true);
      // The agent started on the signed core and trusts the fleet key that keygen wrote.
      const agent = parts.find((p) => p.name === 'agent')!;
      expect(agent.out()).not.toMatch(/WARNING|ERROR/);
      // The rollout: the canary, its soak, done.
      expect(out).toMatch(/deploy: group 'plant1': plant1\/gw1\/loop \(online, NOMINAL/);
      expect(out).toMatch(/^deploy: done \(1 agent\(s\) run [0-9a-f]{16}\)$/m);
      expect(Number(readFileSync(join(dir, 'gw1.release'), 'utf8').trim())).toBeGreaterThan(0);
      // The agent's console reports the core that runs now (the deployed one), not the one it started with: its measurement moves.
      const status = [...agent.out().matchAll(/^agent plant1\/gw1\/loop: t=\d+ s (\w+) measurement (-?[\d.]+) /gm)];
      expect(status.length, agent.out()).toBeGreaterThan(0);
      expect(status.at(-1)![1]).toBe('NOMINAL');
      expect(Number(status.at(-1)![2]), agent.out()).toBeGreaterThan(20);
      // Both dashboards are up at once, each on its own port.
      expect(await httpStatus(`http://127.0.0.1:${ports[8080]}/metrics`)).toBe(200);
      expect(await httpStatus(`http://127.0.0.1:${ports[8081]}/metrics`)).toBe(200);
      expect(existsSync(join(dir, 'telemetry.db'))).toBe(true);
    } finally {
      for (const p of [...parts].reverse()) await stop(p);
    }
    // Ctrl-C stops each part cleanly.
    for (const p of parts) expect(p.out(), p.name).toMatch(/stopp(ed|ing) \(SIGINT\)/);
  }, 420_000);
});

describe('deploy says why it found no agent', () => {
  const deploy = async (broker: string, ...extra: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-deploy-why-'));
    temps.push(dir);
    const key = generateFleetKey();
    writeFileSync(join(dir, 'fleet.pub'), key.publicKeyPem);
    const module = join(dir, 'core.wasm');
    const bytes = readFileSync(join(ROOT, 'build', 'core.wasm'));
    writeFileSync(module, bytes);
    writeSignatureFile(module, signModule(bytes, key.privateKeyPem));
    // Not spawnSync: the broker under test runs in this process.
    const sh = spawn(process.execPath, [BIN, 'deploy', module, '--broker', broker, '--group', 'plant1', '--key', join(dir, 'fleet.pub'), '--discover', '1', ...extra]);
    running.add(sh);
    let out = '';
    sh.stdout.on('data', (d) => { out += d; });
    sh.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => sh.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => sh.on('exit', resolve));
    clearTimeout(t);
    return { code, out };
  };
  const USERS = [
    { username: 'coord', password: 'coord-secret-1', role: 'coordinator' as const },
    { username: 'gw1', password: 'gw1-secret-1', role: 'agent' as const, group: 'plant1', node: 'gw1' },
    { username: 'viewer', password: 'viewer-secret-1', role: 'observer' as const },
  ];

  it('no broker on the port: it was never reached', async () => {
    const r = await deploy(`mqtt://127.0.0.1:${await freePort()}`, '--username', 'coord', '--password', 'coord-secret-1');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/no agent of group 'plant1' seen within 1 s on mqtt:\/\/127\.0\.0\.1:\d+: the broker was never reached \(is it running there, on that port\?\); nothing deployed/);
  });

  it('no credentials on a broker with log-ins: the refused log-in is named', async () => {
    const b = await startEmbeddedBroker({ port: await freePort(), users: USERS });
    try {
      const r = await deploy(b.url);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/deploy: the broker refused the log-in: bad username or password \(mqtt:\/\/127\.0\.0\.1:\d+, no username given\); nothing deployed/);
      expect(r.out).not.toMatch(/no agent of group/);
    } finally {
      await b.close();
    }
  });

  it("an agent's log-in: accepted, its subscriptions refused: deploy needs a coordinator's", async () => {
    const b = await startEmbeddedBroker({ port: await freePort(), users: USERS });
    try {
      const r = await deploy(b.url, '--username', 'gw1', '--password', 'gw1-secret-1');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/the broker accepted the log-in \(user 'gw1'\) but refused its subscriptions: deploy commands, so it needs a coordinator's log-in/);
    } finally {
      await b.close();
    }
  });

  it('a log-in that may read, on a broker with no agent: nothing came at all, and what that may mean', async () => {
    const b = await startEmbeddedBroker({ port: await freePort(), users: USERS });
    try {
      const r = await deploy(b.url, '--username', 'viewer', '--password', 'viewer-secret-1');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/the broker sent nothing at all: no agent is online, or this log-in \(user 'viewer'\) may not read the agents' topics/);
    } finally {
      await b.close();
    }
  });
});
