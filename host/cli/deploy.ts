// `edgeloop keygen`, `edgeloop sign` and `edgeloop deploy`: the fleet's
// Ed25519 key, a module's detached signature, and a staged rollout of a
// signed core to a group of agents (canary, soak, the rest; automatic
// rollback when the canary trips or goes quiet). deploy is a Sparkplug host
// application of its own: it finds the group's agents from their births
// (asking for a rebirth when it sees data first) and prints every step.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Coordinator } from '../coordinator/coordinator.js';
import { acceptModule } from '../deploy/module.js';
import { validateCoreModule } from '../runtime/validate.js';
import { Core } from '../runtime/core.js';
import { generateFleetKey, loadPrivateKey, loadPublicKey, readSignatureFile, saveFleetKey, signaturePath, signatureRelease, signModule, writeSignatureFile } from '../deploy/signing.js';
import { untilStopped, type Print } from './system.js';

export function keygenCommand(o: { out: string }, print: Print): number {
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (err) {
    throw new Error(`--out ${o.out}: cannot create the folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const privatePath = join(o.out, 'fleet.key');
  const publicPath = join(o.out, 'fleet.pub');
  saveFleetKey(generateFleetKey(), { privatePath, publicPath });
  print(`fleet key written: ${privatePath} (private, 0600: keep it where modules are signed) and ${publicPath} (give it to every agent: --fleet-key)`);
  return 0;
}

export function signCommand(module: string, o: { key: string; release?: number; allowDebug?: boolean }, print: Print): number {
  const bytes = readModule(module);
  // A signature says the fleet stands behind a core: a file that is not one is refused, with what is wrong.
  const valid = validateCoreModule(bytes);
  if (!valid.ok) throw new Error(`${module}: not signed: not a valid edgeloop core (${valid.reason})`);
  // The debug build traps on a broken invariant; the field gets the build that latches a fault code instead.
  if (!o.allowDebug && Core.fromBytes(bytes, module).assertions) {
    throw new Error(`${module}: not signed: it is the debug build (assertions() = 1: a broken invariant traps); sign the field build (build/core.wasm), or pass --allow-debug`);
  }
  const sig = signModule(bytes, loadPrivateKey(o.key), o.release);
  print(`signed ${module} (${bytes.length} bytes), release ${signatureRelease(sig)}: ${writeSignatureFile(module, sig)}`);
  return 0;
}

function readModule(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the module (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export interface DeployCommandOptions {
  broker: string;
  group: string;
  key: string;
  signature?: string;
  canary?: string;
  soak: number;
  staleMs: number;
  discover: number;
  hostId: string;
  username?: string;
  password?: string;
  timeout: number;
}

/**
 * Why discovery found no agent of the group, as far as this host can tell: a
 * broker it never reached, a log-in that may not read the agents' topics,
 * nothing at all from the broker, or agents of other groups only.
 */
export function whyNoAgent(coord: Pick<Coordinator, 'link' | 'agents'>, o: { group: string; username?: string }): string {
  const who = o.username ? `user '${o.username}'` : 'no username given';
  const login = "deploy commands, so it needs a coordinator's log-in (--username/--password of a user whose role is coordinator)";
  if (!coord.link.connected) return 'the broker was never reached (is it running there, on that port?)';
  if (coord.link.subscribeRefused) return `the broker accepted the log-in (${who}) but refused its subscriptions: ${login}`;
  if (coord.link.messages === 0) {
    return `the broker sent nothing at all: no agent is online, or this log-in (${who}) may not read the agents' topics: ${login}`;
  }
  const others = [...coord.agents.keys()];
  return others.length > 0 ? `agents seen, of other groups only: ${others.slice(0, 8).join(', ')}${others.length > 8 ? ', ...' : ''}`
    : `${coord.link.messages} messages came, none an agent's birth or data (agents not running, or not born yet: try a longer --discover)`;
}

export async function deployCommand(module: string, o: DeployCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  const bytes = readModule(module);
  const sig = readSignatureFile(o.signature ?? signaturePath(module));
  const publicKey = loadPublicKey(o.key);
  // The same gate the agents apply, here first: a module they would refuse is never sent.
  const accepted = acceptModule(bytes, sig, publicKey);
  print(`deploy: ${module} is a valid core, signed by the fleet key; version ${accepted.version}, release ${accepted.release}`);
  const coord = new Coordinator({ broker: o.broker, hostId: o.hostId, contain: false, username: o.username, password: o.password });
  const stopped = new AbortController();
  const done = new AbortController();
  const onStop = untilStopped(signal ? AbortSignal.any([signal, done.signal]) : done.signal).then((why) => { stopped.abort(); return why; });
  try {
    const discoverEnd = Date.now() + o.discover * 1000;
    while (Date.now() < discoverEnd && !stopped.signal.aborted) {
      await new Promise((r) => setTimeout(r, 50));
      coord.cycle();
      // Wrong credentials do not fix themselves: say so now, not "no agent seen" later.
      if (coord.loginRefusal) {
        print(`deploy: ${coord.loginRefusal} (${o.broker}${o.username ? `, user '${o.username}'` : ', no username given'}); nothing deployed`);
        return 1;
      }
    }
    const members = [...coord.agents.values()].filter((a) => a.group === o.group);
    if (members.length === 0) {
      print(`deploy: no agent of group '${o.group}' seen within ${o.discover} s on ${o.broker}: ${whyNoAgent(coord, o)}; nothing deployed`);
      return 1;
    }
    print(`deploy: group '${o.group}': ${members.map((a) => `${a.key} (${a.health}, ${a.mode}, core ${a.coreVersion})`).join(', ')}`);
    const r = coord.startRollout({ group: o.group, bytes, signature: sig, canary: o.canary, soakMs: o.soak * 1000, staleMs: o.staleMs, publicKey });
    let logged = 0;
    const end = Date.now() + o.timeout * 1000;
    while (!r.finished && !stopped.signal.aborted && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 50));
      coord.cycle();
      for (const l of r.log.slice(logged)) print(`deploy: ${l.message}`);
      logged = r.log.length;
    }
    for (const l of r.log.slice(logged)) print(`deploy: ${l.message}`);
    const v = r.view();
    if (!r.finished) {
      print(`deploy: stopped in phase ${v.phase} (${stopped.signal.aborted ? 'interrupted' : `no end within ${o.timeout} s`}); agents keep what they run now`);
      return 1;
    }
    print(`deploy: ${v.phase}${v.reason ? ` (${v.reason})` : ''}`);
    return v.phase === 'done' ? 0 : 1;
  } finally {
    done.abort();
    await onStop;
    await coord.stop();
  }
}
