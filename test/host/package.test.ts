// The package as a user gets it: `npm pack` (its prepack builds the core
// and the host) in a copy of this working tree, with secrets planted where a
// careless `files` list would pick them up; then an empty project installs
// the tarball (`npm install --prefer-offline`: dependencies from npm's cache
// or the registry; better-sqlite3 may compile from source) and runs, with
// Node, what the documentation shows: the README's TypeScript example, a
// custom I/O binding written against `edgeloop/io`, docs/deploy.md's
// signing snippet, and `npx edgeloop`. TypeScript compiles them with the
// project's own compiler, against the installed package's types. Every step
// is bounded; a step that overruns is killed with its process group; the
// temporary folders go at the end.
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Bounds: the pack (a full build), the install (better-sqlite3 may compile), anything else. */
const PACK_MS = 5 * 60_000;
const INSTALL_MS = 10 * 60_000;
const STEP_MS = 2 * 60_000;
/** What the working tree holds that is not source, at its top (the copy leaves them out). */
const NOT_COPIED = new Set(['node_modules', 'dist', 'build', '.git', 'sim-out', 'campaign-report']);

const temps: string[] = [];
afterAll(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });

interface Ran { code: number | null; out: string }

/** Run a program in its own process group; past `ms` the whole group is killed (npm's children too). */
function run(cmd: string, args: string[], cwd: string, ms: number): Promise<Ran> {
  return new Promise((resolve) => {
    const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', FORCE_COLOR: '0' };
    const p = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out = (out + d).slice(-200_000); });
    p.stderr!.on('data', (d) => { out = (out + d).slice(-200_000); });
    const t = setTimeout(() => {
      out += `\n[killed: no end within ${ms} ms]`;
      try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ }
    }, ms);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

/** The first ```ts block after `heading` in a Markdown file. */
function tsBlockAfter(file: string, heading: string): string {
  const md = readFileSync(join(ROOT, file), 'utf8');
  const at = md.indexOf(heading);
  expect(at, `${file}: ${heading}`).toBeGreaterThanOrEqual(0);
  const m = /```ts\n([\s\S]*?)```/.exec(md.slice(at));
  expect(m, `${file}: a \`\`\`ts block after ${heading}`).not.toBeNull();
  return m![1];
}

/** An IoBinding of the user's own, in memory, handed to an Agent that has no broker to reach: the loop runs all the same. */
const CUSTOM_BINDING = `import { Core } from 'edgeloop';
import { Agent } from 'edgeloop/agent';
import type { IoBinding, IoReading } from 'edgeloop/io';

/** An oven in memory: a thermometer at 20 counts per C, a heater that warms it, a contactor that cuts the heater. */
class MemoryOven implements IoBinding {
  temperatureC = 80;
  heaterPct = 0;
  tripped = true;
  writes = 0;
  read(_nowUs: number): IoReading {
    return { sensors: [Math.round(this.temperatureC * 20)] };
  }
  write(command: number, _nowUs: number): void {
    this.writes++;
    this.heaterPct = this.tripped ? 0 : command;
    this.temperatureC += 0.01 * (20 + 1.5 * this.heaterPct - this.temperatureC);
  }
  writeTrip(tripped: boolean, _nowUs: number): void {
    this.tripped = tripped;
  }
}

const oven = new MemoryOven();
const core = Core.load();
core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, out_min: 0, out_max: 100 });
core.setSetpoint(80, 0);
let nowUs = 0;
const agent = new Agent({ group: 'plant1', node: 'bench', device: 'oven', core, binding: oven, broker: 'mqtt://127.0.0.1:1', clockUs: () => nowUs });
for (let i = 0; i < 100; i++) {
  nowUs += agent.core.nextIntervalUs;
  agent.tick();
}
console.log(\`custom binding: \${agent.stats.ticks} ticks, \${oven.writes} commands written, \${agent.core.mode}, trip output \${oven.tripped ? 'de-energized' : 'energized'}, heater \${oven.heaterPct.toFixed(1)} %\`);
await agent.stop();
`;

describe('the npm package', () => {
  let tarball = '';
  let entries: string[] = [];
  let project = '';
  let installed = '';

  beforeAll(async () => {
    // A copy of the working tree without what was built, node_modules shared: `npm pack` must build it all itself.
    const work = mkdtempSync(join(tmpdir(), 'edgeloop-pack-'));
    temps.push(work);
    const copy = join(work, 'edgeloop');
    cpSync(ROOT, copy, { recursive: true, filter: (src) => {
      const rel = relative(ROOT, src);
      return !NOT_COPIED.has(rel.split('/')[0]) && !rel.endsWith('.tgz') && !rel.split('/').includes('node_modules');
    } });
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    // Secrets and run outputs where a user leaves them: at the top, and inside folders the package ships.
    const plant = (rel: string) => { mkdirSync(join(copy, rel, '..'), { recursive: true }); writeFileSync(join(copy, rel), 'secret\n'); };
    for (const rel of ['keys/fleet.key', 'keys/fleet.pub', 'fleet.key', 'users.json', 'telemetry.db', 'telemetry.db-wal', 'telemetry.db-shm', 'gw1.release',
      'docs/fleet.key', 'deploy/users.json', 'deploy/agent.password', 'examples/keys/fleet.key', 'host/telemetry/dashboard/edgeloop-telemetry.db']) plant(rel);
    const pack = join(work, 'pack');
    mkdirSync(pack);
    // At a lower priority: the build and the compile share the machine with the other test files.
    const p = await run('nice', ['-n', '10', 'npm', 'pack', '--pack-destination', pack], copy, PACK_MS);
    expect(p.code, p.out).toBe(0);
    const made = readdirSync(pack).filter((f) => f.endsWith('.tgz'));
    expect(made, p.out).toHaveLength(1);
    tarball = join(pack, made[0]);
    const list = await run('tar', ['-tzf', tarball], work, STEP_MS);
    expect(list.code, list.out).toBe(0);
    entries = list.out.trim().split('\n');

    // An empty project that installs the tarball.
    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'edgeloop-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
    const i = await run('nice', ['-n', '10', 'npm', 'install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project, INSTALL_MS);
    expect(i.code, i.out).toBe(0);
    installed = join(project, 'node_modules', 'edgeloop');
  }, PACK_MS + INSTALL_MS + 2 * STEP_MS);

  it('holds what runs: the compiled host and simulator with their types, both cores, the CLI, the dashboard\'s pages', () => {
    for (const f of ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/bin/edgeloop.js', 'package/build/core.wasm', 'package/build/core.debug.wasm',
      'package/dist/host/runtime/core.js', 'package/dist/host/runtime/core.d.ts', 'package/dist/host/cli/main.js', 'package/dist/host/agent/index.d.ts',
      'package/dist/host/io/index.d.ts', 'package/dist/host/deploy/signing.d.ts', 'package/dist/host/telemetry/store.d.ts', 'package/dist/firmware-sim/device.js',
      'package/host/telemetry/dashboard/index.html', 'package/host/telemetry/dashboard/app.js', 'package/deploy/healthcheck.mjs']) {
      expect(entries, f).toContain(f);
    }
  });

  it('holds nothing secret and nothing that does not run: no keys, users files, passwords or databases; no tests, core sources or source maps', () => {
    const bad = entries.filter((e) => /\.key$|\/keys\/|users\.json$|\.password$|\.db(-wal|-shm)?$|\.release$|\.map$|\.tgz$/.test(e)
      || /^package\/(test|assembly|bench|scripts|sim-out|campaign-report)\//.test(e)
      || (/\.ts$/.test(e) && !/\.d\.ts$/.test(e) && !e.startsWith('package/examples/')));
    expect(bad).toEqual([]);
  });

  it('installs: the README\'s TypeScript example, a custom binding on edgeloop/io and docs/deploy.md\'s signing snippet compile against its types and run', async () => {
    writeFileSync(join(project, 'readme-example.ts'), tsBlockAfter('README.md', '## Using the core from TypeScript'));
    writeFileSync(join(project, 'custom-binding.ts'), CUSTOM_BINDING);
    writeFileSync(join(project, 'signing-example.ts'), tsBlockAfter('docs/deploy.md', '## The fleet key'));
    // The package's own example of a binding, when it ships one, is compiled too (not run: it is a library).
    const shipped = join(installed, 'examples', 'custom-binding.ts');
    const extra = existsSync(shipped) ? ['shipped-custom-binding.ts'] : [];
    if (extra.length) copyFileSync(shipped, join(project, extra[0]));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', rootDir: '.',
        skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      files: ['readme-example.ts', 'custom-binding.ts', 'signing-example.ts', ...extra],
    }, null, 2));
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project, STEP_MS);
    expect(tsc.code, tsc.out).toBe(0);

    // README: one tick of the core from the installed package's build/core.wasm.
    const readme = await run(process.execPath, ['out/readme-example.js'], project, STEP_MS);
    expect(readme.code, readme.out).toBe(0);
    expect(readme.out).toMatch(/^heater \d+\.\d %, NOMINAL, next tick in \d+ us$/m);

    // A binding of the user's own closes the loop: every tick reads it and writes its command, and the core permits the run (trip output energized).
    const custom = await run(process.execPath, ['out/custom-binding.js'], project, STEP_MS);
    expect(custom.code, custom.out).toBe(0);
    expect(custom.out).toMatch(/^custom binding: 100 ticks, 100 commands written, NOMINAL, trip output energized, heater \d+\.\d %$/m);

    // docs/deploy.md: the fleet key and a signature, with the module where the snippet reads it.
    mkdirSync(join(project, 'build'));
    copyFileSync(join(installed, 'build', 'core.wasm'), join(project, 'build', 'core.wasm'));
    const sign = await run(process.execPath, ['out/signing-example.js'], project, STEP_MS);
    expect(sign.code, sign.out).toBe(0);
    expect(statSync(join(project, 'fleet.key')).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(join(project, 'build', 'core.wasm.sig'), 'utf8').trim(), 'base64')).toHaveLength(72);
    // It never overwrites a key: run again, refused, and the key is the same.
    const key = readFileSync(join(project, 'fleet.key'), 'utf8');
    const again = await run(process.execPath, ['out/signing-example.js'], project, STEP_MS);
    expect(again.code).not.toBe(0);
    expect(again.out).toMatch(/fleet\.key: expected no file there \(a fleet key is never overwritten\)/);
    expect(readFileSync(join(project, 'fleet.key'), 'utf8')).toBe(key);
  }, 3 * STEP_MS);

  it('installs the CLI: npx edgeloop --help, and a loop run from the installed package', async () => {
    const help = await run('npx', ['--no-install', 'edgeloop', '--help'], project, STEP_MS);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/^Usage: edgeloop \[options\] \[command\]/m);
    for (const c of ['agent', 'coordinator', 'dashboard', 'broker', 'deploy', 'keygen', 'sign', 'sim', 'campaign']) expect(help.out).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    const chamber = await run('npx', ['--no-install', 'edgeloop', 'chamber', '--fault', 'none', '--seconds', '60'], project, STEP_MS);
    expect(chamber.code, chamber.out).toBe(0);
    expect(chamber.out).toMatch(/envelope kept/);
    expect(basename(tarball)).toMatch(/^edgeloop-\d+\.\d+\.\d+\.tgz$/);
  }, 2 * STEP_MS);
});
