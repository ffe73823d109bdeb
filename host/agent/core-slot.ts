// The slot an agent's core runs in, so that a deployment can swap it while
// the loop runs, and swap back.
//
// install() gates the module (host/deploy/module.ts: size, fleet signature,
// ABI), instantiates a new core, gives it the slot's configuration and the
// setpoint, and only when every step has succeeded makes it the running core,
// keeping the one it replaces (instance and module) for rollback(). Any
// failure throws and leaves the running core as it was: the same object, its
// state untouched (nothing is called on it).
//
// A swap is a restart, not a migration. The new core starts from its own
// init(): its model primes on the first measurement and averages for its
// first WARMUP_TICKS (16) trusted samples before the change detectors run;
// debounce, timing and control monitors start from zero; the supervisor
// starts NOMINAL. No state is carried over, on purpose:
//   - the new module's memory layout and the meaning of its internal state
//     are its own; copying the old instance's state into it would be
//     undefined behaviour between two versions, and the ABI carries only the
//     configuration (which is re-applied) and the setpoint;
//   - detector sums and debounce counters accumulated by the old code would
//     make the new code's first alarms the old code's, and the canary soak
//     (host/deploy/rollout.ts) must judge the new code from a clean start.
// What keeps the restart smooth is the controller's bumpless start: on its
// first tick a core starts its controller from the actuator's feedback. So
// tick() through the slot: on the first tick after a swap, when the binding
// has no feedback of its own, the slot passes the command the previous core
// last issued as that feedback, and the actuator does not jump.
//
// A swap would also drop the running core's latched faults (its supervisor
// starts over), so install() refuses while the running core is not NOMINAL:
// recover or reset first. rollback() is always allowed: it is how a tripped
// canary gets its previous core back.

import { Core, compileCoreModule, type ParamName, type ParamValue, type TickInput } from '../runtime/core.js';
import { acceptModule, BUILTIN_VERSION, DeployError, moduleVersion } from '../deploy/module.js';
import type { KeyInput } from '../deploy/signing.js';

export type CoreConfig = Partial<Record<ParamName, ParamValue>>;

/** Makes a core instance of a module (default: V8 in this thread), with what lets it go (a worker, for an isolated core). */
export type CoreMaker = (module: WebAssembly.Module) => { core: Core; dispose?: () => void };

interface Installed {
  core: Core;
  /** The compiled module, to make a new instance of; null for a core the slot was given without its bytes. */
  module: WebAssembly.Module | null;
  version: string;
  /** Its signed release (0: a core the agent started with, whose release it was not told). */
  release: number;
}

export class CoreSlot {
  private current: Installed;
  private previous: Installed | null = null;
  private readonly cfg: CoreConfig;
  /** The command the slot's last tick returned (what the actuator holds). */
  private lastCommand: number | null = null;
  /** Set by a swap: the command to hand the new core on its first tick. */
  private handover: number | null = null;

  /**
   * `core`: the running core, already configured with `config` (the slot does
   * not apply it here; it applies it to every core it installs).
   * `moduleBytes`: the module `core` was made from, which names its version
   * (sha256 prefix) and lets rollback() make a new instance of it; without
   * them the version is 'builtin' and a rollback to it restarts that same
   * instance (its init()).
   */
  private readonly makeCore: CoreMaker;
  /** What lets each made core go (isolated cores hold a worker thread). */
  private readonly disposers = new Map<Core, () => void>();

  constructor(core: Core, config: CoreConfig, moduleBytes?: Uint8Array, release = 0, makeCore?: CoreMaker, disposeCore?: () => void) {
    this.makeCore = makeCore ?? ((module) => ({ core: Core.fromModule(module) }));
    if (disposeCore) this.disposers.set(core, disposeCore);
    this.cfg = { ...config };
    this.highest = release;
    this.current = moduleBytes
      ? { core, module: compileCoreModule(moduleBytes), version: moduleVersion(moduleBytes), release }
      : { core, module: null, version: BUILTIN_VERSION, release };
  }

  /** The running core's signed release (0: not known, the core the agent started with). */
  get release(): number { return this.current.release; }
  /**
   * Raise the floor to a release accepted before (kept on disk by the
   * agent across restarts); never lowers it. `onFloor` hears every rise.
   */
  keepFloor(floor: number, onFloor?: (release: number) => void): void {
    if (Number.isSafeInteger(floor) && floor > this.highest) this.highest = floor;
    this.onFloor = onFloor ?? null;
  }
  private onFloor: ((release: number) => void) | null = null;
  /**
   * The highest release this slot has accepted: the floor a deploy must be
   * above. A rollback does not lower it (a release pulled by a rollback does
   * not come back by replay: re-sign it as a newer one). Kept in memory.
   */
  get highestRelease(): number { return this.highest; }
  private highest = 0;

  /** The running core. Read it again after install() or rollback(): it changes. */
  get core(): Core { return this.current.core; }
  /** The running module's version: its sha256 prefix, or 'builtin'. */
  get version(): string { return this.current.version; }
  /** The version rollback() would go back to, or null. */
  get previousVersion(): string | null { return this.previous?.version ?? null; }
  /** The configuration every installed core gets (a copy). */
  get config(): CoreConfig { return { ...this.cfg }; }

  /** Configure the running core (one transaction, as Core.configure) and remember it for the next swap. */
  configure(params: CoreConfig): void {
    this.current.core.configure(params);
    Object.assign(this.cfg, params);
  }

  /** Tick the running core; the first tick after a swap starts bumpless from the previous command (see above). */
  tick(nowUs: number, input: TickInput): number {
    let io = input;
    if (this.handover !== null && (input.feedback === null || input.feedback === undefined)) {
      io = { ...input, feedback: this.handover };
    }
    const u = this.current.core.tick(nowUs, io);
    this.handover = null;
    this.lastCommand = u;
    return u;
  }

  /**
   * Gate, instantiate, configure and start a new module; swap it in only if
   * all of that succeeded. Throws DeployError (field, reason) otherwise, and
   * the running core is untouched. Returns the new version.
   * `setpoint`: the new core's setpoint (null: leave it at its default).
   */
  install(bytes: Uint8Array, signature: Uint8Array | null, publicKey: KeyInput, setpoint: number | null, nowUs: number): string {
    const running = this.current.core;
    const mode = running.mode;
    if (mode !== 'NOMINAL') {
      const c = running.cause;
      throw new DeployError('module', `not installed while the running core is ${mode}${c ? ` (${c.monitor}/${c.stage})` : ''}: a swap would drop its latched faults; recover or reset first`);
    }
    const accepted = acceptModule(bytes, signature, publicKey);
    // Only forward: an older release with its old signature, replayed, is a downgrade (rollback() is the way back).
    if (accepted.release <= this.highest) {
      const which = this.highest === this.current.release ? "the running core's release" : 'the highest release this agent has run';
      throw new DeployError('signature', `release ${accepted.release} is not newer than ${which} ${this.highest}: ` +
        'a downgrade is refused (to go back to the core this one replaced, roll back)');
    }
    const core = this.start(accepted.module, setpoint, nowUs);
    this.swap({ core, module: accepted.module, version: accepted.version, release: accepted.release });
    this.highest = accepted.release;
    // Kept on disk by the agent; a disk that refuses it leaves the floor in memory (the install has happened).
    try { this.onFloor?.(accepted.release); } catch { /* the floor holds in memory */ }
    return accepted.version;
  }

  /**
   * Back to the core that the last install() replaced: a new instance of its
   * module (or, for a 'builtin' core, that instance restarted), configured
   * and given the setpoint (default: the running core's). Throws when there
   * is none (no install yet, or already rolled back) or when it cannot be
   * started; the running core is then untouched. Returns the version now running.
   */
  rollback(nowUs: number, setpoint: number | null = this.current.core.setpoint): string {
    const prev = this.previous;
    if (!prev) throw new Error(`rollback: no previous core to go back to (running ${this.current.version})`);
    const core = prev.module ? this.start(prev.module, setpoint, nowUs) : this.restart(prev.core, setpoint, nowUs);
    if (core !== prev.core) this.release_(prev.core);
    this.swap({ core, module: prev.module, version: prev.version, release: prev.release }, false);
    return prev.version;
  }

  /**
   * The running core trapped (or was stopped past its deadline): after a
   * deploy, back to the core it replaced (rollback()); otherwise the same
   * module again, a fresh instance (a builtin core: its init()), configured
   * and given `setpoint`. The actuator's next command starts bumpless from
   * `handover` (what the loop wrote meanwhile: the safe output). Throws when
   * neither works; the caller keeps the safe output and tries again.
   * Returns what it did and the version now running.
   */
  recover(nowUs: number, setpoint: number | null, handover: number): { action: 'rollback' | 'restart'; version: string } {
    if (this.previous) {
      const version = this.rollback(nowUs, setpoint);
      this.handover = handover;
      return { action: 'rollback', version };
    }
    const cur = this.current;
    const core = cur.module ? this.start(cur.module, setpoint, nowUs) : this.restart(cur.core, setpoint, nowUs);
    if (core !== cur.core) this.release_(cur.core);
    this.current = { ...cur, core };
    this.handover = handover;
    this.lastCommand = handover;
    return { action: 'restart', version: cur.version };
  }

  /** A new, configured instance of a module with its setpoint; DeployError if any step fails. */
  private start(module: WebAssembly.Module, setpoint: number | null, nowUs: number): Core {
    let made: { core: Core; dispose?: () => void };
    try {
      made = this.makeCore(module);
    } catch (err) {
      throw new DeployError('module', `does not instantiate: ${(err as Error).message}`);
    }
    if (made.dispose) this.disposers.set(made.core, made.dispose);
    try {
      return this.prepare(made.core, setpoint, nowUs);
    } catch (err) {
      this.release_(made.core);
      throw err;
    }
  }

  /** Let a core go that the slot no longer keeps (an isolated core's worker stops). */
  private release_(core: Core): void {
    const d = this.disposers.get(core);
    if (d) { this.disposers.delete(core); d(); }
  }

  /** Let every core go (the agent stops). */
  dispose(): void {
    for (const d of this.disposers.values()) d();
    this.disposers.clear();
  }

  /** A builtin core's own instance, restarted (init()) under a new wrapper (its event reader starts over too). */
  private restart(old: Core, setpoint: number | null, nowUs: number): Core {
    const st = old.raw.init();
    if (st !== 0) throw new DeployError('module', `the previous core did not restart: init() returned ${st}`);
    return this.prepare(Core.fromExports(old.raw, { memoryBytes: old.memoryBytes ?? undefined }), setpoint, nowUs);
  }

  private prepare(core: Core, setpoint: number | null, nowUs: number): Core {
    try {
      core.configure(this.cfg);
      if (setpoint !== null) core.setSetpoint(setpoint, nowUs);
    } catch (err) {
      throw new DeployError('module', `does not take the running configuration: ${(err as Error).message}`);
    }
    return core;
  }

  private swap(next: Installed, keepPrevious = true): void {
    let handover = this.lastCommand;
    if (handover === null) { try { handover = this.current.core.output; } catch { handover = null; } }
    this.handover = handover;
    const dropped = keepPrevious ? this.previous : this.current;
    this.previous = keepPrevious ? this.current : null;
    this.current = next;
    if (dropped && dropped.core !== next.core && dropped.core !== this.previous?.core) this.release_(dropped.core);
  }
}
