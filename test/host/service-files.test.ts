// The service files of deploy/ as an operator installs them: the systemd
// units pass `systemd-analyze verify` with no warning, take the parts'
// notifications (Type=notify, a watchdog) and hold the hardening
// deploy/README.md promises; the Dockerfile builds in two stages, runs as a
// user that is not root and checks its health; the health check tells a
// serving part from one that is not, against real parts; and Mosquitto,
// started for real with deploy/mosquitto.conf and its ACL, gives an agent's
// log-in its own topics and nothing of another node's. What a machine lacks
// (systemd-analyze, mosquitto) is skipped with the reason printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent } from '../../host/agent/agent.js';
import { freshCore } from '../support/core.js';
import { steadyBinding } from '../support/bindings.js';
import { freePort, wait } from '../support/brokers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const BIN = join(ROOT, 'bin', 'edgeloop.js');
const HEALTH = join(DEPLOY, 'healthcheck.mjs');
const UNITS = { agent: 'edgeloop-agent.service', coordinator: 'edgeloop-coordinator.service', broker: 'edgeloop-broker.service' } as const;
const INSTALLED_BIN = '/usr/local/bin/edgeloop';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const SYSTEMD_ANALYZE = have('systemd-analyze');
if (!SYSTEMD_ANALYZE) console.log('service files: systemd units not verified: systemd-analyze is not installed (apt-get install systemd)');
const MOSQUITTO = have('mosquitto') ? 'mosquitto' : '/usr/sbin/mosquitto';
const MOSQUITTO_MISSING = ['mosquitto', 'mosquitto_passwd'].filter((c) => !have(c) && !have(`/usr/sbin/${c}`));
if (MOSQUITTO_MISSING.length) console.log(`service files: deploy/mosquitto.conf not run: ${MOSQUITTO_MISSING.join(', ')} not installed (apt-get install mosquitto)`);

const temps: string[] = [];
const tempDir = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); temps.push(d); return d; };
/** Processes this file started, stopped by their PID at the end whatever happened. */
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A unit file as key -> values (a key may repeat), per section. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) { section = s[1]; continue; }
    const eq = line.indexOf('=');
    const k = `${section}.${line.slice(0, eq)}`;
    keys.set(k, [...(keys.get(k) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

describe('systemd units (deploy/*.service)', () => {
  it.skipIf(!SYSTEMD_ANALYZE)('systemd-analyze verify: every unit, not one warning', () => {
    const dir = tempDir('edgeloop-units-');
    // The verifier checks that ExecStart's program exists: where edgeloop is not installed, the repository's bin stands in.
    const stand = !existsSync(INSTALLED_BIN);
    if (stand) console.log(`service files: ${INSTALLED_BIN} not installed here: verifying the units with ExecStart=${BIN}`);
    for (const unit of Object.values(UNITS)) {
      const text = readFileSync(join(DEPLOY, unit), 'utf8');
      expect(text, unit).toContain(`ExecStart=${INSTALLED_BIN} `);
      writeFileSync(join(dir, unit), stand ? text.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${BIN} `) : text);
    }
    const r = spawnSync('systemd-analyze', ['verify', ...Object.values(UNITS).map((u) => join(dir, u))], { encoding: 'utf8', timeout: 60_000 });
    const about = `${r.stdout}${r.stderr}`.split('\n').filter((l) => Object.values(UNITS).some((u) => l.includes(u)));
    expect(r.status, r.stderr).toBe(0);
    expect(about, 'warnings about the units').toEqual([]);
  });

  for (const [part, unit] of Object.entries(UNITS)) {
    it(`${unit}: a notify service with a watchdog, restarted on failure, its configuration file, the hardening deploy/README.md promises`, () => {
      const u = parseUnit(readFileSync(join(DEPLOY, unit), 'utf8'));
      const one = (k: string) => { const v = u.get(`Service.${k}`); expect(v, `${unit}: ${k}`).toHaveLength(1); return v![0]; };
      // The parts say READY=1 and WATCHDOG=1 through systemd-notify (host/cli/service-notify.ts), a child process:
      // NotifyAccess=all, or systemd drops them and kills a healthy part at the first watchdog period.
      expect(one('Type')).toBe('notify');
      expect(one('NotifyAccess')).toBe('all');
      expect(one('WatchdogSec')).toMatch(/^\d+s$/);
      expect(readFileSync(join(ROOT, 'host', 'cli', 'service-notify.ts'), 'utf8')).toMatch(/systemd-notify/);
      expect(one('RestrictAddressFamilies').split(' ')).toContain('AF_UNIX');
      expect(one('Restart')).toBe('on-failure');
      expect(one('RestartSec')).toMatch(/^\d+s$/);
      expect(one('ExecStart')).toBe(`${INSTALLED_BIN} ${part} --config /etc/edgeloop/${part}.yaml`);
      for (const [k, v] of [['DynamicUser', 'yes'], ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'],
        ['CapabilityBoundingSet', ''], ['AmbientCapabilities', ''], ['UMask', '0077']]) expect(one(k), `${unit}: ${k}`).toBe(v);
      // V8 needs executable memory it writes: this one would stop the part from starting.
      expect(u.get('Service.MemoryDenyWriteExecute') ?? []).not.toContain('yes');
      if (part !== 'broker') expect(one('StateDirectory')).toBe(`edgeloop-${part}`);
      expect(u.get('Install.WantedBy')).toEqual(['multi-user.target']);
      // The command line the unit runs exists: the part takes --config.
      const help = spawnSync(process.execPath, [BIN, part, '--help'], { encoding: 'utf8', timeout: 60_000 });
      expect(help.status, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/--config <file>/);
    });
  }

  it('the agent may reach serial ports (Modbus RTU) and nothing else of /dev; the others no device at all', () => {
    const a = parseUnit(readFileSync(join(DEPLOY, UNITS.agent), 'utf8'));
    expect(a.get('Service.DevicePolicy')).toEqual(['closed']);
    expect(a.get('Service.DeviceAllow')).toEqual(['char-ttyS rw', 'char-ttyUSB rw', 'char-ttyACM rw']);
    for (const unit of [UNITS.coordinator, UNITS.broker]) expect(parseUnit(readFileSync(join(DEPLOY, unit), 'utf8')).get('Service.PrivateDevices')).toEqual(['yes']);
  });
});

describe('deploy/Dockerfile', () => {
  /** Instructions, continuation lines joined, comments dropped. */
  const instructions = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n')
    .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => { const m = /^(\w+)\s+(.*)$/.exec(l)!; return { op: m[1].toUpperCase(), args: m[2] }; });
  const stages: { from: string; body: typeof instructions }[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') stages.push({ from: i.args, body: [] });
    else stages.at(-1)!.body.push(i);
  }
  const last = stages.at(-1)!;

  it('two stages: built on node:20 (npm ci, npm pack: prepack builds), run on node:20-slim with the build stage\'s install', () => {
    expect(stages.map((s) => s.from)).toEqual(['node:20 AS build', 'node:20-slim']);
    const build = stages[0].body.map((i) => `${i.op} ${i.args}`).join('\n');
    expect(build).toMatch(/RUN npm ci\b/);
    expect(build).toMatch(/npm pack/);
    expect(build).toMatch(/npm install --prefix \/opt\/edgeloop --omit=dev/);
    expect(last.body.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build /opt/edgeloop '))).toBe(true);
  });

  it('runs as a user that is not root, set before the entry point; a HEALTHCHECK runs deploy/healthcheck.mjs from the installed package', () => {
    const user = last.body.filter((i) => i.op === 'USER');
    expect(user).toHaveLength(1);
    expect(user[0].args).not.toMatch(/^(root|0)(:|$)/);
    const at = (op: string) => last.body.findIndex((i) => i.op === op);
    expect(at('USER')).toBeGreaterThan(-1);
    expect(at('USER')).toBeLessThan(at('ENTRYPOINT'));
    const health = last.body.filter((i) => i.op === 'HEALTHCHECK');
    expect(health).toHaveLength(1);
    expect(health[0].args).toMatch(/CMD \["node", "\/opt\/edgeloop\/node_modules\/edgeloop\/deploy\/healthcheck\.mjs"\]/);
    expect(health[0].args).toMatch(/--interval=\d+s --timeout=\d+s/);
    // The installed package has it: deploy/ is in the package's files.
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files).toContain('deploy/');
    expect(last.body.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["edgeloop"]');
  });

  it('.dockerignore keeps keys, users files, databases, builds and node_modules out of the build context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['**/node_modules', 'dist', 'build', '**/*.key', '**/keys', '**/users.json', '**/*.db', '**/*.db-wal', '**/*.password', '.git']) {
      expect(ignore, p).toContain(p);
    }
  });
});

describe('deploy/healthcheck.mjs against real parts', () => {
  // Asynchronous: the broker under test runs in this process, and must answer while the check waits.
  const check = (...args: string[]) => new Promise<{ status: number | null; stdout: string }>((resolve) => {
    const p = spawn(process.execPath, [HEALTH, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(p);
    let stdout = '';
    p.stdout!.on('data', (d) => { stdout += d; });
    p.on('exit', (status) => resolve({ status, stdout }));
  });

  it('broker: a secured embedded broker answers an MQTT CONNECT without a log-in with a refusal: serving; a closed port is not', async () => {
    const port = await freePort();
    const b = await startEmbeddedBroker({ port, users: [{ username: 'coord', password: 'coord-secret-1', role: 'coordinator' }] });
    try {
      const r = await check('broker', String(port));
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/^healthy: MQTT 127\.0\.0\.1:\d+: CONNACK \(return code [45]\)/);
    } finally {
      await b.close();
    }
    const closed = await check('broker', String(port));
    expect(closed.status).toBe(1);
    expect(closed.stdout).toMatch(/^unhealthy: MQTT 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });

  it('coordinator: its dashboard answers GET /metrics with 200; another port does not', async () => {
    const b = await startEmbeddedBroker({ port: await freePort() });
    const port = await freePort();
    const dir = tempDir('edgeloop-health-');
    const p = spawn(process.execPath, [BIN, 'coordinator', '--broker', b.url, '--dashboard-port', String(port), '--db', join(dir, 't.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        p.stdout!.on('data', (d) => { out += d; if (/dashboard http:\/\/127\.0\.0\.1:\d+\//.test(out)) resolve(); });
        p.stderr!.on('data', (d) => { out += d; });
        p.on('exit', (code) => reject(new Error(`coordinator exited (${code}) before serving: ${out}`)));
      });
      const r = await check('coordinator', String(port));
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/^healthy: GET http:\/\/127\.0\.0\.1:\d+\/metrics: 200/);
      expect((await check('dashboard', String(await freePort()))).status).toBe(1);
    } finally {
      const gone = new Promise((r) => p.once('exit', r));
      if (p.exitCode === null) process.kill(p.pid!, 'SIGTERM');
      await gone;
      await b.close();
    }
  });

  it('agent: a running process is, a stopped one (SIGSTOP) is not', async () => {
    const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.add(p);
    await new Promise((r) => p.once('spawn', r));
    try {
      expect((await check('agent', String(p.pid))).status).toBe(0);
      process.kill(p.pid!, 'SIGSTOP');
      const stopped = await check('agent', String(p.pid));
      expect(stopped.status).toBe(1);
      expect(stopped.stdout).toMatch(/is stopped \(state T\)/);
    } finally {
      process.kill(p.pid!, 'SIGKILL');
    }
  });
});

describe.skipIf(MOSQUITTO_MISSING.length > 0)('deploy/mosquitto.conf on a real Mosquitto', () => {
  const PASSWORDS = { coord: 'coord-secret-1', gw1: 'gw1-secret-1', viewer: 'viewer-secret-1', alice: 'alice-secret-1' };
  let broker: ChildProcess;
  let url = '';
  let log = '';
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    const port = await freePort();
    const dir = tempDir('edgeloop-mosquitto-');
    // Run as root, Mosquitto drops to its own user: the files must be readable by it.
    chmodSync(dir, 0o755);
    const passwd = join(dir, 'edgeloop.passwd');
    const acl = join(dir, 'edgeloop.acl');
    writeFileSync(passwd, '');
    for (const [user, pw] of Object.entries(PASSWORDS)) {
      const r = spawnSync('mosquitto_passwd', ['-b', passwd, user, pw], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, r.stderr).toBe(0);
    }
    writeFileSync(acl, readFileSync(join(DEPLOY, 'mosquitto.acl')));
    chmodSync(passwd, 0o644);
    chmodSync(acl, 0o644);
    // The file as shipped; only the port and the two paths change, each exactly once.
    let conf = readFileSync(join(DEPLOY, 'mosquitto.conf'), 'utf8');
    for (const [from, to] of [['listener 1883 127.0.0.1\n', `listener ${port} 127.0.0.1\n`], ['/etc/mosquitto/edgeloop.passwd', passwd], ['/etc/mosquitto/edgeloop.acl', acl]]) {
      expect(conf.split(from).length - 1, from).toBe(1);
      conf = conf.replace(from, to);
    }
    writeFileSync(join(dir, 'mosquitto.conf'), conf);
    broker = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(broker);
    broker.stderr!.on('data', (d) => { log = (log + d).slice(-8000); });
    url = `mqtt://127.0.0.1:${port}`;
    let listening = false;
    for (let i = 0; i < 200 && !listening && broker.exitCode === null; i++) {
      listening = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (!listening) await wait(25);
    }
    expect(listening, `mosquitto did not listen on ${port}: ${log}`).toBe(true);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    if (broker?.pid && broker.exitCode === null) {
      const gone = new Promise((r) => broker.once('exit', r));
      process.kill(broker.pid, 'SIGTERM');
      await gone;
    }
  });

  const login = async (username: keyof typeof PASSWORDS, opts: IClientOptions = {}) => {
    const c = await mqtt.connectAsync(url, { username, password: PASSWORDS[username], protocolVersion: 5, reconnectPeriod: 0, ...opts });
    clients.push(c);
    return c;
  };
  /** Messages a client gets, in order, and a wait for the one that ends a story. */
  const inbox = (c: MqttClient) => {
    const got: string[] = [];
    c.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    return {
      got,
      until: async (line: string) => { for (let i = 0; i < 400 && !got.includes(line); i++) await wait(25); expect(got, log).toContain(line); },
    };
  };
  const publishCode = async (c: MqttClient, topic: string, payload: string) => {
    try {
      await c.publishAsync(topic, payload, { qos: 1 });
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };

  it('no log-in, or a wrong password: refused', async () => {
    await expect(mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5 })).rejects.toThrow(/Not authorized|Bad User Name or Password/i);
    await expect(mqtt.connectAsync(url, { reconnectPeriod: 0, username: 'gw1', password: 'wrong-secret' })).rejects.toThrow(/Not authorized|Bad username or password/i);
  });

  it('an edgeloop agent logged in as gw1 births and reports on its own topics; the coordinator sees them', async () => {
    const coord = await login('coord');
    const seen = inbox(coord);
    await coord.subscribeAsync('spBv1.0/#', { qos: 1 });
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(50, 0);
    let now = 0;
    const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop', core, broker: url, username: 'gw1', password: PASSWORDS.gw1,
      clockUs: () => now, binding: steadyBinding() });
    try {
      for (let i = 0; i < 200 && !seen.got.some((l) => l.startsWith('spBv1.0/plant1/DDATA/gw1/loop ')); i++) {
        now += 100_000;
        agent.tick();
        await wait(25);
      }
      const topics = new Set(seen.got.map((l) => l.split(' ')[0]));
      expect([...topics], log).toEqual(expect.arrayContaining(['spBv1.0/plant1/NBIRTH/gw1', 'spBv1.0/plant1/DBIRTH/gw1/loop', 'spBv1.0/plant1/DDATA/gw1/loop']));
      expect(agent.loginRefusal).toBeNull();
    } finally {
      await agent.stop();
    }
  });

  it('gw1 publishes its own topics only: another node\'s data and a command are refused (MQTT 5: 135 not authorized) and never delivered', async () => {
    const coord = await login('coord');
    const seen = inbox(coord);
    await coord.subscribeAsync('spBv1.0/#', { qos: 1 });
    const gw1 = await login('gw1');
    // own data -> delivered; another node's data, and a DCMD (a coordinator's) -> refused; then a marker from the same client:
    // the broker delivers one client's messages in order, so once the marker is in, anything allowed before it is too.
    expect(await publishCode(gw1, 'spBv1.0/plant1/DDATA/gw1/loop', 'own')).toBe(0);
    expect(await publishCode(gw1, 'spBv1.0/plant1/DDATA/gw2/loop', 'foreign')).toBe(135);
    expect(await publishCode(gw1, 'spBv1.0/plant2/NDATA/gw1', 'other-group')).toBe(135);
    expect(await publishCode(gw1, 'spBv1.0/plant1/DCMD/gw2/loop', 'command')).toBe(135);
    expect(await publishCode(gw1, 'spBv1.0/plant1/NDATA/gw1', 'marker')).toBe(0);
    await seen.until('spBv1.0/plant1/NDATA/gw1 marker');
    expect(seen.got).toEqual(['spBv1.0/plant1/DDATA/gw1/loop own', 'spBv1.0/plant1/NDATA/gw1 marker']);
  });

  it('gw1 gets its own commands and not another node\'s; the observer may read but not publish', async () => {
    const gw1 = await login('gw1');
    const got = inbox(gw1);
    // Mosquitto 2.0 grants a subscription to another node's commands and then checks each message against the read ACL.
    await gw1.subscribeAsync(['spBv1.0/plant1/DCMD/gw1/+', 'spBv1.0/plant1/DCMD/gw2/+', 'spBv1.0/STATE/+'], { qos: 1 });
    const coord = await login('coord');
    // The command to gw2 goes first, from the same client: had it been delivered, it would be in before gw1's.
    expect(await publishCode(coord, 'spBv1.0/plant1/DCMD/gw2/loop', 'for-gw2')).toBe(0);
    expect(await publishCode(coord, 'spBv1.0/plant1/DCMD/gw1/loop', 'for-gw1')).toBe(0);
    await got.until('spBv1.0/plant1/DCMD/gw1/loop for-gw1');
    expect(got.got).toEqual(['spBv1.0/plant1/DCMD/gw1/loop for-gw1']);
    const viewer = await login('viewer');
    expect(await publishCode(viewer, 'spBv1.0/plant1/DCMD/gw1/loop', 'viewer-command')).toBe(135);
  });
});
