// The CLI as a user runs it: the demo narrates a caught fault, and bad
// arguments get an error that names them.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('edgeloop CLI', () => {
  it('demo (npm start): the whole system on the embedded broker; zone 1 tripped and why, the cascade contained, counted both ways, the dashboard served', () => {
    const r = run('demo', '--speed', '0', '--linger', '0', '--seconds', '200');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/embedded MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+/);
    // What tripped and why, from the core's own events.
    expect(r.stdout).toMatch(/zone 1: TRIP: the trip output is de-energized \(heater contactor opens\); cause act_reversed \(the actuator moves against its command\) at the actuation stage/);
    expect(r.stdout).toMatch(/zone 1: NOMINAL -> SAFE_STOP: act_reversed .* \(first out: act_mismatch at the actuation stage\)/);
    expect(r.stdout).toMatch(/coordinator: hold line1\/zone2\/loop \(line1\/zone1\/loop left control \(SAFE_STOP\)/);
    expect(r.stdout).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    expect(r.stdout).toMatch(/Zone 1, in both runs: tripped at t=12\d\.\d s by act_reversed\/actuation; hottest \d+\.\d C: inside its 10\.\.95 C envelope/);
    const m = /dragged more than 10 C off the 80 C operating point \(their product lost\): (\d) of 5 without coordination, (\d) with it/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![2])).toBeLessThan(Number(m![1]));
    expect(r.stdout).toMatch(/driven outside their safety envelope \(10\.\.95 C\): 0 without, 0 with/);
    // No claim the trip has made untrue.
    expect(r.stdout).not.toMatch(/no command can stop/);
    expect(r.stdout).toMatch(/Telemetry stored: [1-9]\d* samples from 6 agents/);
  });

  it('every part has --help: agent, coordinator, deploy, broker, dashboard, keygen, sign', () => {
    for (const cmd of ['agent', 'coordinator', 'deploy', 'broker', 'dashboard', 'keygen', 'sign']) {
      const r = run(cmd, '--help');
      expect(r.status, `${cmd} --help`).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`^Usage: edgeloop ${cmd} `));
    }
  });

  it('bad arguments to the system commands name the option and what was expected', () => {
    expect(run('agent', '--broker', 'nope', '--node', 'x').stderr).toMatch(/--broker must be a URL such as mqtt:\/\/127\.0\.0\.1:1883, got 'nope'/);
    expect(run('agent', '--broker', 'mqtt://127.0.0.1:1', '--node', 'a/b').stderr).toMatch(/edge_node_id must be a non-empty MQTT topic level/);
    expect(run('agent', '--broker', 'mqtt://127.0.0.1:1', '--node', 'x', '--core-deadline-ms', '5').stderr).toMatch(/--core-deadline-ms must be an integer in \[10, 60000\], got '5'/);
    expect(run('agent', '--broker', 'mqtt://127.0.0.1:1', '--node', 'x', '--fault', 'sensor.melt@3').stderr).toMatch(/--fault: kind: expected one of/);
    expect(run('deploy', 'missing.wasm', '--broker', 'mqtt://127.0.0.1:1', '--group', 'g', '--key', 'k.pub').stderr).toMatch(/missing\.wasm: cannot read the module \(ENOENT\)/);
    expect(run('coordinator', '--broker', 'mqtt://127.0.0.1:1', '--retain', 'forever').stderr).toMatch(/--retain: expected a duration such as 7d/);
    // A device injects sensor, actuator and trip faults; the rest belong to 'edgeloop sim'.
    expect(run('agent', '--broker', 'mqtt://127.0.0.1:1', '--node', 'x', '--fault', 'timing.overrun@3:5000').stderr)
      .toMatch(/fault 'timing\.overrun' is not a sensor, actuator or trip fault/);
  });

  it('deploy: with no agent of the group on the broker, says so and exits (code 1), nothing sent', async () => {
    const { startEmbeddedBroker } = await import('../../host/mqtt/broker.js');
    const { generateFleetKey, signModule, writeSignatureFile } = await import('../../host/deploy/signing.js');
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-deploy-'));
    const key = generateFleetKey();
    writeFileSync(join(dir, 'fleet.pub'), key.publicKeyPem);
    const module = join(dir, 'core.wasm');
    const bytes = readFileSync(fileURLToPath(new URL('../../build/core.wasm', import.meta.url)));
    writeFileSync(module, bytes);
    writeSignatureFile(module, signModule(bytes, key.privateKeyPem));
    const b = await startEmbeddedBroker();
    const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, 'deploy', module, '--broker', b.url, '--group', 'nobody', '--key', join(dir, 'fleet.pub'), '--discover', '1']);
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.on('exit', (status) => { clearTimeout(t); resolve({ status, out }); });
    });
    await b.close();
    expect(r.out).toMatch(/is a valid core, signed by the fleet key/);
    expect(r.out).toMatch(/no agent of group 'nobody' seen within 1 s/);
    expect(r.status, r.out).toBe(1);
  });
  it('chamber: the stuck sensor is caught at the sensing stage and the loop degrades, envelope kept', () => {
    const r = run('chamber', '--fault', 'stuck-sensor', '--seconds', '300');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/FAULT INJECTED: sensor B frozen/);
    expect(r.stdout).toMatch(/sens_stuck tripped \(sensing stage\) -> root cause/);
    // The mode names the guard's cause (what failed), the trip the monitor that saw it.
    expect(r.stdout).toMatch(/mode NOMINAL -> DEGRADED \(reason: sensor_voted_out \(a bad sensor voted out among redundant ones\)\)/);
    expect(r.stdout).toMatch(/envelope kept/);
  });

  it('chamber: the weak heater is seen by the model residual and compensated: the primary controller keeps it at 80 C, no fallback, no trip', () => {
    const r = run('chamber', '--fault', 'weak-heater', '--seconds', '300', '--json');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    // heater halved at t=90 s -> the residual's detectors see it (est_*) -> a weaker actuator is compensated
    // (integral action makes it up: the guard reacts with a warning only) -> never a mode change, never a trip.
    expect(lines.some((l) => typeof l.monitor === 'string' && /^est_/.test(l.monitor) && l.t > 90)).toBe(true);
    expect(lines.filter((l) => l.kind === 'mode' || l.kind === 'trip_out')).toEqual([]);
    expect(lines.at(-1).summary).toMatchObject({ final_mode: 'NOMINAL', envelope_kept: true });
    expect(lines.at(-1).summary.max_temperature_c).toBeLessThan(81);
  });

  it('rejects a bad argument with a message naming it', () => {
    const r = run('chamber', '--fault', 'meteor');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--fault must be one of all, stuck-sensor, weak-heater, actuator-stuck, none, got 'meteor'/);
    const s = run('chamber', '--seconds', 'ten');
    expect(s.status).not.toBe(0);
    expect(s.stderr).toMatch(/--seconds must be an integer/);
  });

  it('has --help', () => {
    const r = run('chamber', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--fault <kind>/);
  });
});

describe('edgeloop sim and campaign', () => {
  it('sim: runs a scenario file, writes the plot, the event log and the scenario, names the cause', () => {
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-sim-'));
    const r = run('sim', fileURLToPath(new URL('../../firmware-sim/scenarios/thermal-stuck-sensor.json', import.meta.url)), '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/detected after [\d.]+ s by sens_stuck \(sensing stage; injected at sensing: attribution right\)/);
    const files = readdirSync(out);
    const svg = files.find((f) => f.endsWith('.svg'));
    expect(svg).toBeDefined();
    expect(readFileSync(join(out, svg!), 'utf8')).toMatch(/^<svg[\s\S]*sens_stuck[\s\S]*<\/svg>$/);
    const events = readFileSync(join(out, files.find((f) => f.endsWith('.events.jsonl'))!), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.some((e) => e.kind === 'trip' && e.monitor === 'sens_stuck')).toBe(true);
  });

  it('sim: an invalid scenario file is rejected with the bad field named, and nothing runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-bad-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ plant: 'thermal', durationS: 60, faults: [{ kind: 'sensor.bias', onsetS: -3, magnitude: 1 }] }));
    const r = run('sim', file, '--out', join(dir, 'out'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.json: invalid scenario/);
    expect(r.stderr).toMatch(/faults\[0\]\.onsetS: expected the onset in seconds, >= 0 \(received -3\)/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const j = run('sim', join(dir, 'missing.json'));
    expect(j.status).toBe(2);
    expect(j.stderr).toMatch(/missing\.json: invalid scenario\n  - \(file\): cannot read it: ENOENT/);
  });

  it('campaign: a small seeded campaign writes its report and prints one-line reproductions; its exit code says what failed', () => {
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-camp-'));
    const r = run('campaign', '--scenarios', '24', '--seed', '3', '--workers', '0', '--out', out, '--no-progress');
    expect(r.stdout).toMatch(/campaign seed 3: 24 scenarios/);
    expect(r.stdout).toMatch(/guard, \d+ faulty runs: \d+ saves, \d+ harms, \d+ misses \(\d+ preventable by an oracle\), \d+ both inside/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.scenarios).toBe(24);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/# Fault campaign, seed 3: 24 scenarios/);
    for (const f of report.failing) expect(f.reproduce).toBe(`npx edgeloop sim --campaign 3:${f.index}`);
    for (const c of [...report.guard.harmCases, ...report.guard.missCases]) expect(c.reproduce).toBe(`npx edgeloop sim --campaign 3:${c.index}`);
    // Without --fail-on-harm, harms do not fail it; false trips do (exit 3), with one line on stderr.
    const falseTrips = report.guard.falseTrips.trips > 0;
    expect(r.status, r.stderr).toBe(falseTrips ? 3 : 0);
    if (falseTrips) expect(r.stderr).toMatch(/^edgeloop campaign: seed 3: \d+ false trip\(s\) in \d+ run\(s\): #\d+/m);
    // With --fail-on-harm, a harm fails it (exit 4), with one line on stderr naming the scenarios.
    const harmful = run('campaign', '--scenarios', '24', '--seed', '3', '--workers', '0', '--out', out, '--no-progress', '--fail-on-harm');
    const harms = report.guard.harms + report.guard.faultFree.harms;
    expect(harmful.status, harmful.stderr).toBe(harms > 0 ? 4 : falseTrips ? 3 : 0);
    if (harms > 0) {
      const lines = harmful.stderr.split('\n').filter((l) => l.startsWith('edgeloop campaign:'));
      expect(lines).toEqual([expect.stringMatching(new RegExp(`^edgeloop campaign: seed 3: ${harms} harm\\(s\\) .*#${report.guard.harmCases[0].index}\\b`))]);
    }
  });

  it('a core that traps (build/trap_core.wasm, signed-valid, traps from its 21st tick) cannot pass: campaign exits 5 and its report says CORE FAILED; sim exits 5 and says so; the real core exits 0', () => {
    const trap = join(fileURLToPath(new URL('../../build/', import.meta.url)), 'trap_core.wasm');
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-dead-'));
    const c = run('campaign', '--scenarios', '6', '--seed', '1', '--workers', '0', '--out', out, '--no-progress', '--core', trap);
    expect(c.status, c.stderr).toBe(5);
    expect(c.stdout).toMatch(/watchdog: \d+ restarts \(\d+ traps\) in \d+ runs; invariants broken: 0: CORE FAILED/);
    expect(c.stderr).toMatch(/^edgeloop campaign: seed 1: the core under test is not controlling: the core trapped or overran its tick budget in \d+ run\(s\)/m);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.health.resets).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\*\*CORE FAILED: the core under test is not controlling/);
    const s = run('sim', '--campaign', '1:4', '--core', trap, '--out', out);
    expect(s.status).toBe(5);
    expect(s.stdout).toMatch(/CORE FAILED: the watchdog restarted it \d+ time\(s\) \(\d+ trap\(s\)/);
    const good = run('sim', '--campaign', '1:4', '--out', out);
    expect(good.status).toBe(0);
    expect(good.stdout).not.toMatch(/CORE FAILED/);
  });

  it('broker --port on a port in use exits 1 with the reason, instead of living on without listening', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const b = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'broker', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('exit', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
      });
      expect(b.status).toBe(1);
      expect(b.stderr).toMatch(new RegExp(`broker: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    } finally {
      holder.close();
    }
  });

  it('campaign checks --out before the run; keygen creates its folder; sign refuses a file that is not a core; sim refuses a scenario file over 4 MiB before parsing it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-small-'));
    const notAFolder = join(dir, 'a-file');
    writeFileSync(notAFolder, 'x');
    const c = run('campaign', '--scenarios', '2000', '--out', join(notAFolder, 'report'), '--no-progress');
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/--out .*a-file\/report: cannot write the report there \(ENOTDIR\)/);
    expect(c.stdout).not.toMatch(/campaign seed/);   // nothing ran
    const k = run('keygen', '--out', join(dir, 'keys', 'fleet'));
    expect(k.status, k.stderr).toBe(0);
    expect(existsSync(join(dir, 'keys', 'fleet', 'fleet.pub'))).toBe(true);
    const s = run('sign', notAFolder, '--key', join(dir, 'keys', 'fleet', 'fleet.key'));
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/a-file: not signed: not a valid edgeloop core \(not a WebAssembly module/);
    expect(existsSync(`${notAFolder}.sig`)).toBe(false);
    // A real core is signed with its release (given, or the time now in ms).
    const core = join(dir, 'core.wasm');
    writeFileSync(core, readFileSync(fileURLToPath(new URL('../../build/core.wasm', import.meta.url))));
    const signed = run('sign', core, '--key', join(dir, 'keys', 'fleet', 'fleet.key'), '--release', '5');
    expect(signed.status, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(/^signed .*core\.wasm \(\d+ bytes\), release 5: .*core\.wasm\.sig$/m);
    // The debug build is not for the field: refused unless asked for.
    const dbg = join(dir, 'core.debug.wasm');
    writeFileSync(dbg, readFileSync(fileURLToPath(new URL('../../build/core.debug.wasm', import.meta.url))));
    const d = run('sign', dbg, '--key', join(dir, 'keys', 'fleet', 'fleet.key'));
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/not signed: it is the debug build \(assertions\(\) = 1/);
    expect(existsSync(`${dbg}.sig`)).toBe(false);
    expect(run('sign', dbg, '--key', join(dir, 'keys', 'fleet', 'fleet.key'), '--allow-debug').status).toBe(0);
    const badRelease = run('sign', core, '--key', join(dir, 'keys', 'fleet', 'fleet.key'), '--release', '0');
    expect(badRelease.status).toBe(1);
    expect(badRelease.stderr).toMatch(/--release must be an integer in \[1, 9007199254740991\], got '0'/);
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"plant":"thermal","durationS":60,"name":"${'x'.repeat(5 * 1024 * 1024)}"}`);
    const b = run('sim', big, '--out', dir);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/\(file\): expected at most 4194304 bytes, the file has \d+/);
    // A pipe shows no size up front: it is read only up to the limit.
    const fifo = join(dir, 'pipe.json');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `head -c 6000000 /dev/zero | tr '\\0' ' ' > ${fifo}`], { stdio: 'ignore' });
    const p = run('sim', fifo, '--out', dir);
    writer.kill();
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/\(file\): expected at most 4194304 bytes, read more than that/);
    // A long value is quoted in part, with its length, not echoed whole.
    const long = join(dir, 'long-name.json');
    writeFileSync(long, JSON.stringify({ plant: 'thermal', durationS: 60, name: 'x'.repeat(300_000) }));
    const l = run('sim', long, '--out', dir);
    expect(l.status).toBe(2);
    expect(l.stderr).toMatch(/name: .*\(received "x{119}\.\.\. \(300002 characters\)\)/);
    expect(l.stderr.length).toBeLessThan(2000);
  });

  it('a core whose tick never returns (build/loop_core.wasm, from its 21st tick) cannot hang them: campaign stops its worker after --stall and exits 5, sim stops its run and exits 5', () => {
    const loop = join(fileURLToPath(new URL('../../build/', import.meta.url)), 'loop_core.wasm');
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-loop-'));
    const c = run('campaign', '--scenarios', '4', '--seed', '1', '--workers', '1', '--out', out, '--no-progress', '--core', loop, '--stall', '3');
    expect(c.status, c.stderr).toBe(5);
    expect(c.stderr).toMatch(/^edgeloop campaign: seed 1: the core under test is not controlling: the core did not return from tick in scenario #0 within 3 s .*reproduce: npx edgeloop sim --campaign 1:0/m);
    const s = run('sim', '--campaign', '1:4', '--core', loop, '--out', out, '--stall', '3');
    expect(s.status).toBe(5);
    expect(s.stdout).toMatch(/CORE FAILED: the run did not finish within 3 s: the core did not return from a tick/);
    // On Wasmtime the stuck core is in a child process that holds the worker in a read: the child is ended too.
    const w = run('sim', '--campaign', '1:4', '--core', loop, '--engine', 'wasmtime', '--out', out, '--stall', '3');
    expect(w.status).toBe(5);
    expect(w.stdout).toMatch(/CORE FAILED: the run did not finish within 3 s/);
    const wc = run('campaign', '--scenarios', '4', '--seed', '1', '--workers', '1', '--out', out, '--no-progress', '--core', loop, '--engine', 'wasmtime', '--stall', '3');
    expect(wc.status, wc.stderr).toBe(5);
    expect(wc.stderr).toMatch(/did not return from tick in scenario #0 within 3 s .*--engine wasmtime\)/);
  });

  it('campaign --help documents --fail-on-harm and the exit codes; sim --help documents --oracle, and a bad one is named', () => {
    const c = run('campaign', '--help');
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/--fail-on-harm\s+exit 4 on any harm/);
    expect(c.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+3 +false trips.*\n\s+4 +harms, with --fail-on-harm.*\n\s+5 +the core under test is not controlling/);
    const s = run('sim', '--help');
    expect(s.stdout).toMatch(/--oracle <kind>\s+an oracle run/);
    const bad = run('sim', '--campaign', '1:0', '--oracle', 'maybe');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--oracle must be one of min, max, trip, got 'maybe'/);
  });

  it('sim --oracle: the oracle run of a campaign scenario, named as such', () => {
    const out = mkdtempSync(join(tmpdir(), 'edgeloop-oracle-'));
    // 1:0 has a fault (sensor or otherwise): from its onset the trip is asserted.
    const r = run('sim', '--campaign', '1:0', '--oracle', 'trip', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/oracle 'trip' from the fault's onset/);
    expect(r.stdout).toMatch(/trip output asserted 1 time\(s\)/);
    expect(readdirSync(out).some((f) => f.endsWith('-oracle-trip.svg'))).toBe(true);
  });
});
