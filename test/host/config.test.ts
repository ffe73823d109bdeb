// Configuration files (host/config/): every example in examples/ is valid;
// a bad file gets every problem named by its field; passwords come from
// files or environment variables, never from the command line; flags given
// on the command line override the file; and `edgeloop agent --config`
// closes a loop on the embedded broker as the file says.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../host/config/agent.js';
import { loadBrokerConfig, loadCoordinatorConfig, loadDashboardConfig } from '../../host/config/services.js';
import { ConfigError, PASSWORD_ENV } from '../../host/config/file.js';
import { agentOptions, brokerOptions, coordinatorOptions } from '../../host/cli/configured.js';
import { shownUrl } from '../../host/cli/system.js';
import { startEmbeddedBroker } from '../../host/mqtt/broker.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'edgeloop-config-'));
const write = (dir: string, name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const none: (k: string) => boolean = () => false;

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration files', () => {
  it('every example in examples/ is valid for its part (agent-*, coordinator, dashboard, broker)', () => {
    const env = { EDGELOOP_COORDINATOR_PASSWORD: 'coordinator-pw', EDGELOOP_VIEWER_PASSWORD: 'viewer-pw-1' };
    const files = readdirSync(EXAMPLES).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const path = join(EXAMPLES, f);
      if (f.startsWith('agent')) {
        // Each agent example's identity and binding, as the file says them (a new example adds its line here).
        const expected: Record<string, { identity: object; kind: string }> = {
          'agent-sim.yaml': { identity: { group: 'plant1', node: 'oven1', device: 'loop' }, kind: 'sim' },
        };
        expect(expected[f], `examples/${f}: say what it should load as`).toBeDefined();
        const c = loadAgentConfig(path, {}).config;
        expect({ identity: c.identity, kind: c.binding.kind }, f).toEqual(expected[f]);
      }
      else if (f.startsWith('coordinator')) expect(loadCoordinatorConfig(path, {}).config.hostId).toBe('edgeloop-coordinator');
      else if (f.startsWith('dashboard')) expect(loadDashboardConfig(path, {}).config.dashboard.port).not.toBe(8080);
      else if (f.startsWith('broker')) {
        // Its agent's password is in a file beside it, as the example says; a test tree gives it one.
        const dir = tmp();
        mkdirSync(join(dir, 'secrets'));
        write(join(dir, 'secrets'), 'oven1.password', 'oven1-password\n');
        const copy = write(dir, f, readFileSync(path, 'utf8'));
        const b = loadBrokerConfig(copy, env);
        expect(b.users?.map((u) => [u.username, u.role])).toEqual([['coordinator', 'coordinator'], ['plant1-oven1', 'agent'], ['viewer', 'observer']]);
        expect(b.users?.[1].password).toBe('oven1-password');
      } else throw new Error(`examples/${f}: no schema for it (name it agent-*, coordinator, dashboard or broker)`);
    }
  });

  it('a bad agent file: every problem at once, each by its field path; secrets never quoted', () => {
    const dir = tmp();
    const p = write(dir, 'agent.yaml', [
      'broker: { url: "http://x", password: "hunter22" }',
      'identity: { group: "a/b" }',
      'binding: { kind: sim, plant: boiler }',
      'loop: { params: { kp: 1, kpp: 2 }, dependsOn: [ "x/y" ] }',
      'core: { deadlineMs: 5 }',
      'colour: blue',
    ].join('\n'));
    const m = problems(() => loadAgentConfig(p, {}));
    expect(m).toMatch(/broker\.url: expected a broker URL with mqtt:\/\//);
    expect(m).toMatch(/broker: .*password|Unrecognized key.*password/i);
    expect(m).not.toMatch(/hunter22/);
    expect(m).toMatch(/identity\.group: expected a group_id/);
    expect(m).toMatch(/identity\.node: expected a edge_node_id/);
    expect(m).toMatch(/binding/);
    expect(m).toMatch(/loop\.params\.kpp: unknown core parameter 'kpp'/);
    expect(m).toMatch(/loop\.dependsOn\[0\]: expected an agent key <group>\/<node>\/<device>/);
    expect(m).toMatch(/core\.deadlineMs: expected a deadline in ms, an integer in \[10, 60000\]/);
    expect(m).toMatch(/colour/);
  });

  it('YAML syntax errors name the line; a missing file and a huge file are refused clearly', () => {
    const dir = tmp();
    const m = problems(() => loadAgentConfig(write(dir, 'a.yaml', 'broker:\n  url: [unclosed\nidentity: {}\n'), {}));
    expect(m).toMatch(/line \d+, column \d+/);
    expect(problems(() => loadAgentConfig(join(dir, 'missing.yaml'), {}))).toMatch(/\(file\): cannot read it/);
    expect(problems(() => loadAgentConfig(write(dir, 'big.yaml', '#'.repeat((1 << 20) + 1)), {}))).toMatch(/expected at most 1048576 bytes/);
    // A billion-laughs file is refused, not expanded.
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefghij'.split('').map((c, i) => `${c}: &${c} [*${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}, *${'abcdefghij'[i]}]`)].join('\n');
    expect(problems(() => loadAgentConfig(write(dir, 'laughs.yaml', laughs), {}))).toMatch(/\(file\): not expanded: .*alias/i);
  });

  it('a real binding must state its setpoint, units and envelope: the file says which are missing', () => {
    const dir = tmp();
    const p = write(dir, 'agent.yaml', [
      'broker: { url: "mqtt://127.0.0.1:1883" }',
      'identity: { node: gw1 }',
      'binding:',
      '  kind: sysfs',
      '  sensors: [ { source: hwmon, path: /sys/class/hwmon/hwmon0/temp1_input, scale: 0.001 } ]',
      '  actuator: { chip: 0, channel: 0, periodNs: 1000000, min: 0, max: 100 }',
      '  trip: { type: gpio, line: 17 }',
    ].join('\n'));
    const m = problems(() => loadAgentConfig(p, {}));
    expect(m).toMatch(/loop\.setpoint: expected the setpoint/);
    expect(m).toMatch(/loop\.units: expected the units/);
    expect(m).toMatch(/loop\.params\.env_min: expected the safety envelope's lower limit/);
    expect(m).toMatch(/loop\.params\.env_max: expected the safety envelope's upper limit/);
  });

  it('passwords: from a file (first line), from a named environment variable, or EDGELOOP_PASSWORD; a missing one names its field', () => {
    const dir = tmp();
    const base = 'identity: { node: gw1 }\nbinding: { kind: sim, plant: thermal }\n';
    write(dir, 'pw', 'from-the-file\nsecond line ignored\n');
    expect(loadAgentConfig(write(dir, 'a.yaml', `broker: { url: "mqtt://h:1883", username: u, passwordFile: pw }\n${base}`), {}).password).toBe('from-the-file');
    expect(loadAgentConfig(write(dir, 'b.yaml', `broker: { url: "mqtt://h:1883", username: u, passwordEnv: MY_PW }\n${base}`), { MY_PW: 'from-env' }).password).toBe('from-env');
    expect(loadAgentConfig(write(dir, 'c.yaml', `broker: { url: "mqtt://h:1883", username: u }\n${base}`), { [PASSWORD_ENV]: 'default-env' }).password).toBe('default-env');
    expect(problems(() => loadAgentConfig(join(dir, 'b.yaml'), {}))).toMatch(/broker\.passwordEnv: expected the environment variable MY_PW to hold the password; it is not set/);
    expect(problems(() => loadAgentConfig(write(dir, 'd.yaml', `broker: { url: "mqtt://h:1883", passwordFile: nope }\n${base}`), {})))
      .toMatch(/broker\.passwordFile: cannot read .*nope/);
    expect(problems(() => loadAgentConfig(write(dir, 'e.yaml', `broker: { url: "mqtt://h:1883", passwordFile: pw, passwordEnv: X }\n${base}`), {})))
      .toMatch(/broker\.passwordFile: give passwordFile or passwordEnv, not both/);
    // A password written into a broker URL is never printed.
    expect(shownUrl('mqtt://gw1:hunter2-secret@10.0.0.5:1883')).toBe('mqtt://gw1:***@10.0.0.5:1883');
    expect(shownUrl('mqtt://10.0.0.5:1883')).toBe('mqtt://10.0.0.5:1883');
    // EDGELOOP_PASSWORD only with a username: MQTT sends no password without one, and the log-in would fail without a word.
    expect(loadAgentConfig(write(dir, 'f.yaml', `broker: { url: "mqtt://h:1883" }\n${base}`), { [PASSWORD_ENV]: 'default-env' }).password).toBeUndefined();
    // A broker file refuses a password written into it: users' passwords come from files or variables.
    expect(problems(() => loadBrokerConfig(write(dir, 'broker.yaml', 'users: [ { username: a, role: observer, password: "12345678" } ]'), {})))
      .toMatch(/users\[0\]/);
  });

  it('flags given on the command line override the file; a flag\'s default never does', () => {
    const dir = tmp();
    const p = write(dir, 'agent.yaml', 'broker: { url: "mqtt://10.0.0.1:1883" }\nidentity: { group: g1, node: n1 }\nbinding: { kind: sim, plant: motor, seed: 7 }\nloop: { setpoint: 2000 }\nkeys: { releaseFile: state/release }\n');
    const flags = { config: p, broker: 'mqtt://127.0.0.1:1999', group: 'plant1', seed: 1, core: 'build/core.wasm', statusEvery: 10, keepalive: 5 };
    const given = (k: string) => k === 'broker';
    const o = agentOptions(flags, given);
    expect(o.broker).toBe('mqtt://127.0.0.1:1999');
    expect(o.group).toBe('g1');        // --group's default does not override the file
    expect(o.seed).toBe(7);
    expect(o.plant).toBe('motor');
    expect(o.setpoint).toBe(2000);
    expect(o.releaseFile).toBe(join(dir, 'state/release'));   // relative to the file
    // Flags that describe a simulated plant are refused with real I/O (they would be ignored, a fault announced that never comes).
    const mb = write(dir, 'modbus.yaml', 'broker: { url: "mqtt://127.0.0.1:1883" }\nidentity: { node: gw1 }\n' +
      'binding: { kind: modbus, transport: { type: tcp, host: 127.0.0.1, port: 1502 }, sensors: [ { kind: input, address: 0 } ], command: { address: 10 }, trip: { address: 0 } }\n' +
      'loop: { setpoint: 50, units: { measurement: C, command: "%" }, params: { env_min: 0, env_max: 100 } }\n');
    expect(() => agentOptions({ config: mb, plant: 'motor' }, (k) => k === 'plant')).toThrow(/--plant: applies to a simulated plant only; .* binds the loop to modbus I\/O/);
    expect(() => agentOptions({ config: mb, fault: { kind: 'actuator.reversed', onsetS: 1, magnitude: 0, durationS: null } }, (k) => k === 'fault')).toThrow(/--fault: applies to a simulated plant only/);
    expect(agentOptions({ config: mb, plant: 'thermal', seed: 1 }, none).io?.kind).toBe('modbus');
    // Inside a binding, an error names its field, not just the binding.
    const typo = write(dir, 'typo.yaml', readFileSync(mb, 'utf8').replace('address: 0 }', 'adress: 0 }'));
    expect(problems(() => loadAgentConfig(typo, {}))).toMatch(/binding\.sensors\[0\]: unknown field 'adress'/);
    // Without a file, the required flags say what is missing.
    expect(() => agentOptions({ core: 'x', group: 'plant1' }, none)).toThrow(/--broker is required \(or give --config <file> with broker\.url\)/);
    expect(() => coordinatorOptions({}, none)).toThrow(/--broker is required/);
    // --password-file and EDGELOOP_PASSWORD for flags alone.
    write(dir, 'pw', 'pw-from-file\n');
    expect(agentOptions({ broker: 'mqtt://h:1', node: 'n', passwordFile: join(dir, 'pw') }, none).password).toBe('pw-from-file');
    expect(() => brokerOptions({ username: 'a', passwordFile: join(dir, 'nope') }, none)).toThrow(/--password-file: cannot read/);
  });

  it('report by exception and the bdSeq file: from the file (paths relative to it) or the flags; bad values named by their field or flag', () => {
    const dir = tmp();
    const p = write(dir, 'agent.yaml', 'broker: { url: "mqtt://127.0.0.1:1883", bdSeqFile: state/bdseq }\nidentity: { node: n1 }\nbinding: { kind: sim, plant: thermal }\n' +
      'report: { mode: exception, deadband: { measurement: 0.05 }, maxIntervalS: 30 }\n');
    const o = agentOptions({ config: p }, none);
    expect(o.bdSeqFile).toBe(join(dir, 'state/bdseq'));
    expect(o.reportByException).toEqual({ deadband: { measurement: 0.05 }, maxIntervalMs: 30_000 });
    // A flag given wins over the file; --bdseq-file is commander's bdseqFile.
    const o2 = agentOptions({ config: p, deadband: ['output=0.5'], bdseqFile: '/tmp/other' } as never, (k) => k === 'deadband' || k === 'bdseqFile');
    expect(o2.reportByException?.deadband).toEqual({ output: 0.5 });
    expect(o2.bdSeqFile).toBe('/tmp/other');
    // Fixed rate by default.
    const fixed = write(dir, 'fixed.yaml', 'broker: { url: "mqtt://127.0.0.1:1883" }\nidentity: { node: n1 }\nbinding: { kind: sim, plant: thermal }\n');
    expect(agentOptions({ config: fixed }, none).reportByException).toBeUndefined();
    // Flags alone.
    const flags = agentOptions({ broker: 'mqtt://h:1', node: 'n', reportByException: true, deadband: ['measurement=0.1', 'predicted=0'], maxInterval: 5 } as never,
      (k) => ['reportByException', 'deadband', 'maxInterval'].includes(k));
    expect(flags.reportByException).toEqual({ deadband: { measurement: 0.1, predicted: 0 }, maxIntervalMs: 5000 });
    expect(() => agentOptions({ broker: 'mqtt://h:1', node: 'n', deadband: ['measurement=0.1'] } as never, (k) => k === 'deadband'))
      .toThrow(/--deadband and --max-interval apply with --report-by-exception/);
    expect(() => agentOptions({ broker: 'mqtt://h:1', node: 'n', reportByException: true, deadband: ['measurement=-1'] } as never, (k) => k === 'reportByException' || k === 'deadband'))
      .toThrow(/--deadband: expected <metric>=<a number >= 0 in its units>, e.g. measurement=0.05, got 'measurement=-1'/);
    expect(() => agentOptions({ broker: 'mqtt://h:1', node: 'n', reportByException: true, deadband: ['measurment=1'] } as never, (k) => k === 'reportByException' || k === 'deadband'))
      .toThrow(/--deadband: 'measurment' is not a numeric sample metric \(setpoint, measurement/);
    const bad = write(dir, 'bad.yaml', 'broker: { url: "mqtt://127.0.0.1:1883" }\nidentity: { node: n1 }\nbinding: { kind: sim, plant: thermal }\nreport: { mode: sometimes, deadband: { measurement: -2 } }\n');
    const why = problems(() => loadAgentConfig(bad, {}));
    expect(why).toMatch(/report\.mode: expected 'fixed' or 'exception'/);
    expect(why).toMatch(/report\.deadband\.measurement: expected a deadband >= 0/);
  });

  it('edgeloop agent --config: a bad file exits 2 naming the field; a good one closes the loop on the broker and reports', async () => {
    const dir = tmp();
    const bad = write(dir, 'bad.yaml', 'broker: { url: "mqtt://127.0.0.1:1" }\nidentity: { node: "a+b" }\nbinding: { kind: sim, plant: thermal }\n');
    const r = spawnSync(process.execPath, [BIN, 'agent', '--config', bad], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/identity\.node: expected a edge_node_id/);

    const broker = await startEmbeddedBroker({ port: 0 });
    const coord = new Coordinator({ broker: broker.url, hostId: 'cfg-test', contain: false });
    const good = write(dir, 'agent.yaml', `broker: { url: "${broker.url}" }\nidentity: { group: cfg, node: gw1, device: oven }\nbinding: { kind: sim, plant: thermal }\nloop: { setpoint: 55 }\nstatusEveryS: 0\n`);
    const child = spawn(process.execPath, [BIN, 'agent', '--config', good], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    try {
      // Bounded by a count of polls, not a clock: 400 x 50 ms.
      const setpoint = await new Promise<number | null>((resolve) => {
        let polls = 0;
        const poll = setInterval(() => {
          coord.cycle();
          const a = coord.agents.get('cfg/gw1/oven');
          if ((a && a.setpoint !== null) || ++polls > 400) { clearInterval(poll); resolve(a?.setpoint ?? null); }
        }, 50);
      });
      expect(setpoint, out).toBeCloseTo(55, 3);
      expect(out).toMatch(/agent cfg\/gw1\/oven: .*setpoint 55 C; broker mqtt:\/\/127\.0\.0\.1:\d+/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r2) => child.once('exit', r2));
      await coord.stop();
      await broker.close();
    }
    expect(out).toMatch(/agent cfg\/gw1\/oven: stopped \(SIGTERM\)/);
  }, 60_000);

  it('edgeloop coordinator --config with dashboard.operators: the dashboard takes log-ins; without them it stays read-only', async () => {
    const dir = tmp();
    write(dir, 'users.json', JSON.stringify({ users: [{ username: 'alice', password: 'alice-password', role: 'operator' }] }));
    const broker = await startEmbeddedBroker({ port: 0 });
    const session = async (yaml: string) => {
      const p = write(dir, 'coordinator.yaml', yaml);
      const child = spawn(process.execPath, [BIN, 'coordinator', '--config', p], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      try {
        let url: string | undefined;
        for (let i = 0; i < 400 && !url; i++) {
          url = /dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
          if (!url) await new Promise((r) => setTimeout(r, 50));
        }
        expect(url, out).toBeDefined();
        const body = await (await fetch(`${url}api/session`)).json() as { operators: boolean };
        return { operators: body.operators, out };
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    };
    try {
      const base = `broker: { url: "${broker.url}" }\ntelemetry: { db: t.db }\n`;
      const on = await session(`${base}dashboard: { port: 0, operators: { usersFile: users.json } }\n`);
      expect(on.operators).toBe(true);
      expect(on.out).toMatch(/operators may log in and command/);
      const off = await session(`${base}dashboard: { port: 0 }\n`);
      expect(off.operators).toBe(false);
      expect(off.out).toMatch(/read-only/);
    } finally {
      await broker.close();
    }
  }, 60_000);
});
