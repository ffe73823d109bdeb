// The agent against a real Mosquitto (Debian's mosquitto; .ci/run installs
// it), and a real client in another process: mosquitto_sub receives an
// agent's Sparkplug payload, and Eclipse Tahu's codec decodes it. The test
// starts and stops the broker itself, on loopback, bounded in time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../host/agent/agent.js';
import { decodePayload } from '../../host/mqtt/codec.js';
import { freshCore } from '../support/core.js';
import { steadyBinding } from '../support/bindings.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const MISSING = ['mosquitto', 'mosquitto_sub'].filter((c) => !have(c) && !have(`/usr/sbin/${c}`));
const MOSQUITTO = have('mosquitto') ? 'mosquitto' : '/usr/sbin/mosquitto';
if (MISSING.length) console.log(`mosquitto tests skipped: ${MISSING.join(', ')} not installed (apt-get install mosquitto mosquitto-clients)`);

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
});
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(MISSING.length > 0)('agent on a real Mosquitto', () => {
  let broker: ChildProcess;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-mosq-'));
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    broker = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = createServer();
        s.once('error', () => resolve(true)); // the port is taken: mosquitto is listening
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
      });
      if (ok) break;
      await wait(50);
    }
  });

  afterAll(() => {
    if (broker.pid) process.kill(broker.pid, 'SIGTERM');
  });

  it('mosquitto_sub in another process receives DDATA that sparkplug-payload decodes', async () => {
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'spBv1.0/plant1/DDATA/#', '-C', '3', '-F', '%x', '-W', '20'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sub.stdout!.on('data', (d) => { out += d; });
    const done = new Promise<number>((resolve) => sub.on('exit', (code) => resolve(code ?? -1)));
    await wait(300);
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(50, 0);
    let now = 0;
    const agent = new Agent({ group: 'plant1', node: 'gw9', device: 'loop1', core, broker: `mqtt://127.0.0.1:${port}`, clockUs: () => now,
      binding: steadyBinding() });
    for (let i = 0; i < 40 && out.split('\n').filter(Boolean).length < 3; i++) {
      now += 100_000;
      agent.tick();
      await wait(50);
    }
    expect(await done).toBe(0);
    const payloads = out.trim().split('\n').map((hex) => decodePayload(Buffer.from(hex.trim(), 'hex')));
    expect(payloads).toHaveLength(3);
    for (const p of payloads) {
      expect(p.metrics.find((m) => m.name === 'setpoint')?.value).toBe(50);
      expect(p.metrics.find((m) => m.name === 'mode')?.value).toBe('NOMINAL');
    }
    await agent.stop();
  });
});
