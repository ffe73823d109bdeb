// The two brokers the integration tests run on: the embedded aedes (the
// default) and a real Mosquitto from Debian's package, started and stopped
// by the test itself on a loopback port. Both can be killed and restarted
// on the same port, for the broker-outage tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';

export type BrokerKind = 'aedes' | 'mosquitto';

export interface TestBroker {
  kind: BrokerKind;
  url: string;
  port: number;
  /** Kill it hard (clients see the connection drop). */
  kill(): Promise<void>;
  /** Start it again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const MOSQUITTO = have('mosquitto') ? 'mosquitto' : '/usr/sbin/mosquitto';
export const MOSQUITTO_MISSING = ['mosquitto', 'mosquitto_sub'].filter((c) => !have(c) && !have(`/usr/sbin/${c}`));
if (MOSQUITTO_MISSING.length) console.log(`mosquitto tests skipped: ${MOSQUITTO_MISSING.join(', ')} not installed (apt-get install mosquitto mosquitto-clients)`);

/** The brokers available here: aedes always, Mosquitto when installed (CI installs it). */
export const BROKER_KINDS: BrokerKind[] = MOSQUITTO_MISSING.length ? ['aedes'] : ['aedes', 'mosquitto'];

export const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

export async function startBroker(kind: BrokerKind): Promise<TestBroker> {
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  if (kind === 'aedes') {
    let b: EmbeddedBroker | null = await startEmbeddedBroker({ port });
    return {
      kind, url, port,
      kill: async () => { await b?.close(); b = null; },
      restart: async () => { b = await startEmbeddedBroker({ port }); },
      close: async () => { await b?.close(); b = null; },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  // set_tcp_nodelay: as a Sparkplug deployment sets it (small QoS 0 packets; docs/host.md).
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n`);
  let proc: ChildProcess | null = null;
  const up = async () => {
    proc = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await portTaken(port)); i++) await wait(30);
  };
  const down = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  };
  await up();
  return { kind, url, port, kill: down, restart: up, close: down };
}
