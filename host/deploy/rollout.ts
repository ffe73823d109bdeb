// A staged rollout of a signed core module to one Sparkplug group, as a state
// machine the coordinator steps on its own cycle (no timers, no callbacks;
// the clock is injected):
//
//   canary    pick the canary (given, or the first online NOMINAL agent of
//             the group by key), send it the module; wait for its
//             acknowledgement and for it to report the new core_version.
//               refused (its gate said no)  -> failed (nothing to roll back:
//                                              a refused module never ran)
//               no ack in time, no version in time, died -> rollback
//   soak      for soakMs the canary must stay alive, fresh (data within
//             staleMs), on the new version, NOMINAL, with no cause. The core
//             has no warm-up mode (MODES in host/runtime/abi.ts): a swapped
//             core starts NOMINAL and its detectors wait out their warm-up
//             silently (host/agent/core-slot.ts), so any other mode counts.
//               any breach                   -> rollback
//   rollout   the rest of the group, batchSize at a time (default: all at
//             once); each must acknowledge and report the version. A batch
//             with a failure stops the rollout (later batches are not sent;
//             agents that refused keep their core).
//   done | rolled_back | failed   terminal
//
// Rollback sends command/rollback to the canary and ends in 'rolled_back'
// with the reason; the rollback's own acknowledgement is logged when it
// comes. Agents outside the group are never addressed. Every transition is
// logged with its time.

import type { AgentView, TrackedCommand } from '../coordinator/coordinator.js';
import { PAYLOAD_MAX_BYTES } from '../mqtt/codec.js';
import { acceptModule, MODULE_MAX_BYTES, moduleVersion } from './module.js';
import { SIGNATURE_BYTES, toBase64, type KeyInput } from './signing.js';
import type { RolloutAgentState, RolloutLogEntry, RolloutPhase, RolloutView } from './types.js';

export interface RolloutTransport {
  /** Every agent the coordinator knows (the rollout filters its group). */
  agents(): AgentView[];
  sendDeploy(agentKey: string, moduleB64: string, signatureB64: string): TrackedCommand;
  sendRollback(agentKey: string): TrackedCommand;
}

export interface RolloutOptions {
  id: string;
  group: string;
  /** The module, and its Ed25519 signature by the fleet key. */
  bytes: Uint8Array;
  signature: Uint8Array;
  /** The canary's key (group/node/device); default: the first online NOMINAL agent of the group by key. */
  canary?: string;
  /** How long the canary must run the new core cleanly before the rest get it. */
  soakMs: number;
  /** No data from the canary for this long during the soak: roll back. */
  staleMs: number;
  clockMs: () => number;
  /** After an acknowledgement, how long an agent has to report the new core_version; also how long to wait for a canary to come online (default 10 s). */
  confirmMs?: number;
  /** Agents deployed at once after the soak (default: the whole rest of the group). */
  batchSize?: number;
  /** When given, the module is checked against the fleet key (DeployError) before anything is sent. */
  publicKey?: KeyInput;
}

/** Room in a DCMD payload for everything but the module's base64 (id, signature, metric names, framing). */
const PAYLOAD_OVERHEAD_BYTES = 512;
const TERMINAL: ReadonlySet<RolloutPhase> = new Set(['done', 'rolled_back', 'failed']);

interface Member {
  key: string;
  state: RolloutAgentState;
  detail: string;
  cmd: Pick<TrackedCommand, 'id' | 'state' | 'detail'> | null;
  /** When the deploy was first seen acknowledged. */
  ackedMs: number | null;
}

export class Rollout {
  readonly log: RolloutLogEntry[] = [];
  /** The module's version (sha256 prefix), what agents report once they run it. */
  readonly version: string;
  private readonly opts: Required<Omit<RolloutOptions, 'canary' | 'publicKey' | 'batchSize'>> & { batchSize: number };
  private readonly moduleB64: string;
  private readonly signatureB64: string;
  private phaseNow: RolloutPhase = 'canary';
  private reasonNow: string;
  private readonly startedMs: number;
  private soakUntilMs: number | null = null;
  private canaryKey: string;
  private readonly members = new Map<string, Member>();
  private rollbackCmd: Pick<TrackedCommand, 'id' | 'state' | 'detail'> | null = null;
  /** The modes the coordinator had seen the canary in when the soak began (a trip between two steps shows up as a new one). */
  private modesBeforeSoak: ReadonlySet<string> = new Set();
  private rollbackLogged = false;

  constructor(opts: RolloutOptions, private readonly transport: RolloutTransport) {
    checkOptions(opts);
    if (opts.publicKey !== undefined) acceptModule(opts.bytes, opts.signature, opts.publicKey);
    this.opts = {
      id: opts.id, group: opts.group, bytes: opts.bytes, signature: opts.signature, soakMs: opts.soakMs,
      staleMs: opts.staleMs, clockMs: opts.clockMs, confirmMs: opts.confirmMs ?? 10_000,
      batchSize: opts.batchSize ?? Number.MAX_SAFE_INTEGER,
    };
    this.version = moduleVersion(opts.bytes);
    this.moduleB64 = toBase64(opts.bytes);
    this.signatureB64 = toBase64(opts.signature);
    if (this.moduleB64.length + PAYLOAD_OVERHEAD_BYTES > PAYLOAD_MAX_BYTES) {
      throw new RangeError(`rollout: a ${opts.bytes.length}-byte module is ${this.moduleB64.length} characters of base64, too large for one ${PAYLOAD_MAX_BYTES}-byte command payload`);
    }
    this.canaryKey = opts.canary ?? '';
    this.startedMs = opts.clockMs();
    this.reasonNow = `waiting for a canary in group '${opts.group}'`;
    this.note(`rollout ${opts.id}: module ${this.version} (${opts.bytes.length} bytes) to group '${opts.group}'${opts.canary ? `, canary ${opts.canary}` : ''}, soak ${opts.soakMs} ms`);
  }

  get phase(): RolloutPhase { return this.phaseNow; }
  get finished(): boolean { return TERMINAL.has(this.phaseNow); }

  /** Advance the rollout by what the agents report now; call it on every coordinator cycle. Returns the phase. */
  step(): RolloutPhase {
    const now = this.opts.clockMs();
    const agents = new Map(this.transport.agents().map((a) => [a.key, a]));
    switch (this.phaseNow) {
      case 'canary': this.stepCanary(agents, now); break;
      case 'soak': this.stepSoak(agents, now); break;
      case 'rollout': this.stepRollout(agents, now); break;
      default: this.watchRollback(now);
    }
    return this.phaseNow;
  }

  view(): RolloutView {
    return {
      id: this.opts.id,
      group: this.opts.group,
      module: this.version,
      phase: this.phaseNow,
      canary: this.canaryKey,
      agents: [...this.members.values()].map((m) => ({ key: m.key, state: m.state, detail: m.detail })),
      reason: this.reasonNow,
      startedMs: this.startedMs,
      soakUntilMs: this.phaseNow === 'soak' ? this.soakUntilMs : null,
      log: this.log.slice(),
    };
  }

  // ---- phases ---------------------------------------------------------------

  private stepCanary(agents: Map<string, AgentView>, now: number): void {
    if (this.members.size === 0 && !this.begin(agents, now)) return;
    const c = this.members.get(this.canaryKey)!;
    const a = agents.get(c.key);
    const outcome = this.progress(c, a, now);
    if (outcome === 'pending') return;
    if (outcome === 'running') {
      this.soakUntilMs = now + this.opts.soakMs;
      this.modesBeforeSoak = new Set(a?.modesSeen ?? []);
      this.transition('soak', `soaking canary ${c.key} on ${this.version} until ${this.soakUntilMs} ms`, now);
      return;
    }
    if (outcome === 'refused') {
      this.transition('failed', `canary ${c.key} refused the module: ${c.detail}; nothing to roll back`, now);
      return;
    }
    this.rollback(c, c.detail, now);
  }

  private stepSoak(agents: Map<string, AgentView>, now: number): void {
    const c = this.members.get(this.canaryKey)!;
    const breach = soakBreach(agents.get(c.key), this.version, this.opts.staleMs, now, this.modesBeforeSoak);
    if (breach) {
      this.rollback(c, `during the soak: ${breach}`, now);
      return;
    }
    if (now < this.soakUntilMs!) return;
    const rest = [...this.members.values()].filter((m) => m.state === 'waiting');
    this.transition('rollout', `canary ${c.key} ran ${this.version} cleanly for ${this.opts.soakMs} ms; deploying to ${rest.length} more`, now);
    this.stepRollout(agents, now);
  }

  private stepRollout(agents: Map<string, AgentView>, now: number): void {
    const inFlight = [...this.members.values()].filter((m) => m.state === 'sent');
    for (const m of inFlight) {
      const outcome = this.progress(m, agents.get(m.key), now);
      if (outcome === 'running') this.note(`${m.key} runs ${this.version}`, now);
      else if (outcome !== 'pending') { m.state = 'failed'; this.note(`${m.key} failed: ${m.detail}`, now); }
    }
    if (inFlight.some((m) => m.state === 'sent')) return;
    const failed = inFlight.filter((m) => m.state === 'failed');
    const waiting = [...this.members.values()].filter((m) => m.state === 'waiting');
    if (failed.length > 0) {
      for (const m of waiting) m.detail = 'not sent: the rollout stopped';
      const why = failed.map((m) => `${m.key}: ${m.detail}`).join('; ');
      this.transition('failed', `${failed.length} agent(s) did not take ${this.version} (${why})${waiting.length ? `; ${waiting.length} not sent` : ''}`, now);
      return;
    }
    if (waiting.length === 0) {
      const running = [...this.members.values()].filter((m) => m.state === 'running').length;
      const skipped = this.members.size - running;
      this.transition('done', `${running} agent(s) run ${this.version}${skipped ? `; ${skipped} not online at the start keep their core` : ''}`, now);
      return;
    }
    const batch = waiting.slice(0, this.opts.batchSize);
    for (const m of batch) this.sendDeploy(m, now);
    this.reasonNow = `deploying ${this.version} to ${batch.length} agent(s); ${waiting.length - batch.length} after them`;
    // A send that failed at once settles on the next step.
  }

  // ---- pieces ---------------------------------------------------------------

  /** Fix the members (the group as it is now) and the canary, and send the canary the module. False while there is no canary yet. */
  private begin(agents: Map<string, AgentView>, now: number): boolean {
    const group = [...agents.values()].filter((a) => a.group === this.opts.group).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    if (this.canaryKey === '') {
      this.canaryKey = group.find((a) => a.health === 'online' && a.mode === 'NOMINAL')?.key ?? '';
    }
    const canary = group.find((a) => a.key === this.canaryKey);
    if (!canary || canary.health !== 'online') {
      if (now - this.startedMs > this.opts.confirmMs) {
        const why = this.canaryKey === '' ? `no online NOMINAL agent in group '${this.opts.group}'`
          : `canary ${this.canaryKey} is ${canary ? canary.health : 'unknown'}`;
        this.transition('failed', `${why} after ${this.opts.confirmMs} ms; nothing sent`, now);
      }
      return false;
    }
    for (const a of group) {
      const online = a.health === 'online';
      this.members.set(a.key, { key: a.key, state: online ? 'waiting' : 'failed', detail: online ? '' : `not online at the start (${a.health})`, cmd: null, ackedMs: null });
    }
    this.note(`canary ${canary.key}; ${group.length} agent(s) in group '${this.opts.group}'`, now);
    this.sendDeploy(this.members.get(canary.key)!, now);
    this.reasonNow = `deploying ${this.version} to canary ${canary.key}`;
    return true;
  }

  private sendDeploy(m: Member, now: number): void {
    m.state = 'sent';
    m.ackedMs = null;
    try {
      m.cmd = this.transport.sendDeploy(m.key, this.moduleB64, this.signatureB64);
      m.detail = `deploy ${m.cmd.id} sent`;
      this.note(`deploy ${m.cmd.id} sent to ${m.key}`, now);
    } catch (err) {
      m.cmd = { id: '', state: 'rejected', detail: `could not send: ${(err as Error).message}` };
      m.detail = m.cmd.detail;
    }
  }

  /** Where a deploy to one agent stands: running the version, still pending, refused by the agent, or failed otherwise. */
  private progress(m: Member, a: AgentView | undefined, now: number): 'running' | 'pending' | 'refused' | 'failed' {
    const cmd = m.cmd!;
    if (cmd.state === 'rejected') { m.detail = cmd.detail.startsWith('could not send') ? cmd.detail : `refused: ${cmd.detail}`; return 'refused'; }
    if (cmd.state === 'timeout') { m.detail = `no acknowledgement (${cmd.detail})`; return 'failed'; }
    if (!a || a.health === 'dead') { m.detail = 'died before it ran the new core'; return 'failed'; }
    if (cmd.state === 'sent') return 'pending';
    m.ackedMs ??= now;
    if (a.coreVersion === this.version) {
      m.state = 'running';
      m.detail = `runs ${this.version}`;
      return 'running';
    }
    if (now - m.ackedMs > this.opts.confirmMs) {
      m.detail = `acknowledged, but reports core_version '${a.coreVersion}' instead of ${this.version} after ${this.opts.confirmMs} ms`;
      return 'failed';
    }
    m.detail = `acknowledged; waiting for core_version ${this.version}`;
    return 'pending';
  }

  private rollback(c: Member, why: string, now: number): void {
    c.state = 'rolled_back';
    let sent = '';
    try {
      this.rollbackCmd = this.transport.sendRollback(c.key);
      sent = `rollback ${this.rollbackCmd.id} sent`;
    } catch (err) {
      sent = `the rollback could not be sent: ${(err as Error).message}`;
    }
    c.detail = `${why}; ${sent}`;
    for (const m of this.members.values()) if (m.state === 'waiting') m.detail = 'not sent: the canary failed';
    this.transition('rolled_back', `canary ${c.key}: ${why}; ${sent}`, now);
  }

  /** After a rollback: log its acknowledgement (or its failure) once. */
  private watchRollback(now: number): void {
    const r = this.rollbackCmd;
    if (!r || this.rollbackLogged || r.state === 'sent') return;
    this.rollbackLogged = true;
    const c = this.members.get(this.canaryKey)!;
    const what = r.state === 'acked' ? `rollback ${r.id} acknowledged by ${c.key}` : `rollback ${r.id} ${r.state}: ${r.detail}`;
    c.detail = `${c.detail}; ${what}`;
    this.note(what, now);
  }

  private transition(phase: RolloutPhase, reason: string, now: number): void {
    this.note(`${this.phaseNow} -> ${phase}: ${reason}`, now);
    this.phaseNow = phase;
    this.reasonNow = reason;
  }

  private note(message: string, now = this.opts.clockMs()): void {
    this.log.push({ tMs: now, message });
  }
}

/** What is wrong with the canary during the soak, or null. */
function soakBreach(a: AgentView | undefined, version: string, staleMs: number, now: number, modesBefore: ReadonlySet<string>): string | null {
  if (!a) return 'it is no longer known to the coordinator';
  if (a.health === 'dead') return 'it died';
  const silentMs = now - a.lastSeenMs;
  if (a.health === 'stale' || silentMs > staleMs) return `no data for ${silentMs} ms (limit ${staleMs} ms)`;
  if (a.coreVersion !== version) return `it reports core_version '${a.coreVersion}', not ${version}`;
  if (a.mode !== 'NOMINAL') return `its mode left NOMINAL: ${a.mode}${a.cause ? ` (cause ${a.cause})` : ''}`;
  if (a.cause !== '') return `it reports a cause: ${a.cause}`;
  // Left NOMINAL and came back between two steps: the coordinator saw the mode go by.
  const passed = [...(a.modesSeen ?? [])].filter((m) => m !== 'NOMINAL' && !modesBefore.has(m));
  if (passed.length > 0) return `its mode left NOMINAL and came back: it passed through ${passed.join(', ')}`;
  return null;
}

function checkOptions(o: RolloutOptions): void {
  const bad = (field: string, expected: string, received: unknown) =>
    new RangeError(`rollout: ${field}: expected ${expected}, received ${JSON.stringify(received)}`);
  if (typeof o.id !== 'string' || o.id === '') throw bad('id', 'a non-empty string', o.id);
  if (typeof o.group !== 'string' || o.group === '' || o.group.includes('/')) throw bad('group', 'a Sparkplug group id', o.group);
  if (!(o.bytes instanceof Uint8Array) || o.bytes.length === 0 || o.bytes.length > MODULE_MAX_BYTES) {
    throw bad('bytes', `a module of 1..${MODULE_MAX_BYTES} bytes`, o.bytes instanceof Uint8Array ? `${o.bytes.length} bytes` : typeof o.bytes);
  }
  if (!(o.signature instanceof Uint8Array) || o.signature.length !== SIGNATURE_BYTES) {
    throw bad('signature', `a ${SIGNATURE_BYTES}-byte signature (the release and the Ed25519 signature)`, o.signature instanceof Uint8Array ? `${o.signature.length} bytes` : typeof o.signature);
  }
  if (o.canary !== undefined && !o.canary.startsWith(`${o.group}/`)) throw bad('canary', `an agent key in group '${o.group}' (${o.group}/node/device)`, o.canary);
  for (const f of ['soakMs', 'staleMs'] as const) {
    if (!Number.isFinite(o[f]) || o[f] < 0) throw bad(f, 'a finite number of milliseconds >= 0', o[f]);
  }
  if (o.staleMs <= 0) throw bad('staleMs', 'more than 0 ms', o.staleMs);
  if (o.confirmMs !== undefined && !(Number.isFinite(o.confirmMs) && o.confirmMs > 0)) throw bad('confirmMs', 'more than 0 ms', o.confirmMs);
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw bad('batchSize', 'an integer >= 1', o.batchSize);
  if (typeof o.clockMs !== 'function') throw bad('clockMs', 'a clock function (ms)', typeof o.clockMs);
}
