// A sysfs binding: the loop on an embedded Linux gateway's own I/O, through
// the kernel's sysfs files. Sensors are hwmon inputs (temp1_input, in
// millidegrees) or IIO ADC channels (in_voltageN_raw, optionally through
// in_voltage_scale and _offset) or any file holding a number; the actuator is
// a PWM channel (/sys/class/pwm/pwmchipN/pwmM); the trip is a GPIO line
// (/sys/class/gpio/gpioN/value) or a file; the feedback and the reference are
// files. It is configured without code (host/io/config.ts, docs/io.md).
//
// A sysfs read or write is a call into a driver that answers at once, so
// everything here is synchronous and done in the tick itself. A read that
// fails (EIO from an unplugged sensor, ENODATA, an unparsable value) is a
// null sample the core sees as missing; a write that fails is counted and
// tried again on the next tick. Nothing thrown leaves read(), write() or
// writeTrip(): errors are counted (stats) and reported through onError once
// per change of state.
//
// Every path is under `root` (default '/'): tests, and a gateway that
// mounts sysfs elsewhere, point it at another tree.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { IoBinding, IoReading } from './binding.js';
import { SAMPLE_NONE } from '../runtime/abi.js';
import type { SysfsConfig, SysfsSensor } from './config.js';

export interface SysfsBindingOptions {
  /** Called when a channel (a sensor, the actuator, the trip) enters an error state or its error changes; not on every tick. */
  onError?: (message: string) => void;
}

export interface SysfsStats {
  /** File reads that gave a number. */
  reads: number;
  /** File reads that failed or did not give a number (each a null sample, or no feedback). */
  readsFailed: number;
  /** File writes done (duty cycle, trip). */
  writes: number;
  /** File writes that failed (tried again on the next tick). */
  writesFailed: number;
  /** Values that did not fit: a command beyond [min, max] (held to it), a non-finite command, a reading beyond the counts' range. */
  rangeErrors: number;
}

/** A sensor's file, resolved at start, and how its number becomes counts. */
interface SensorFile {
  path: string;
  /** counts = ((number + iioOffset) * iioScale) * scale + offset */
  iioScale: number;
  iioOffset: number;
  scale: number;
  offset: number;
}

/** How long start() waits between looks for an exported PWM channel or GPIO line. */
const EXPORT_POLL_MS = 10;

/** The number in a sysfs file's text (decimal, as the kernel prints it), or null. */
export function parseSysfsNumber(text: string): number | null {
  const t = text.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** The duty cycle (ns) for a command: [min, max] mapped onto [0, period], inverted for an inverting stage. */
export function dutyCycleNs(command: number, a: { min: number; max: number; periodNs: number; inverted: boolean }): number {
  const u = Math.min(a.max, Math.max(a.min, command));
  const on = Math.round(((u - a.min) / (a.max - a.min)) * a.periodNs);
  return a.inverted ? a.periodNs - on : on;
}

/** What a GPIO trip writes: de-energize to trip, so the tripped level is the inactive one. */
export function gpioLevels(activeLow: boolean): { tripped: string; run: string } {
  return activeLow ? { tripped: '1', run: '0' } : { tripped: '0', run: '1' };
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  return e?.code ?? e?.message ?? String(err);
}

/** Reports each channel's error once, until the channel is healthy again. */
class ErrorLatch {
  private readonly states = new Map<string, string>();
  constructor(private readonly sink?: (message: string) => void) {}

  fail(channel: string, message: string): void {
    if (this.states.get(channel) === message) return;
    this.states.set(channel, message);
    try { this.sink?.(`sysfs: ${channel}: ${message}`); } catch { /* a logger that throws must not stop the binding */ }
  }

  ok(channel: string): void { this.states.delete(channel); }

  /** The current errors, for a start() that gives up. */
  summary(): string { return [...this.states].map(([c, m]) => `${c}: ${m}`).join('; '); }
}

export class SysfsBinding implements IoBinding {
  readonly name = 'sysfs';
  private readonly cfg: SysfsConfig;
  private readonly errors: ErrorLatch;
  private readonly counters: SysfsStats = { reads: 0, readsFailed: 0, writes: 0, writesFailed: 0, rangeErrors: 0 };
  private readonly sensorsOut: (number | null)[];
  private sensors: SensorFile[] = [];
  private pwmDir = '';
  private tripPath = '';
  private readonly tripLevels: { tripped: string; run: string };
  private dutyWritten: number | null = null;
  private tripWritten: string | null = null;
  private started = false;
  private closed = false;

  /** A binding on a checked configuration (createBinding() checks one); no file is touched before start(). */
  constructor(config: SysfsConfig, opts: SysfsBindingOptions = {}) {
    this.cfg = config;
    this.errors = new ErrorLatch(opts.onError);
    this.sensorsOut = new Array(config.sensors.length).fill(null);
    this.tripLevels = config.trip.type === 'gpio' ? gpioLevels(config.trip.activeLow)
      : { tripped: config.trip.trippedValue, run: config.trip.runValue };
  }

  get stats(): SysfsStats { return { ...this.counters }; }

  /** The files in use, as start() resolved them (for the commissioning log). */
  get files(): { sensors: string[]; pwm: string; trip: string } {
    return { sensors: this.sensors.map((s) => s.path), pwm: this.pwmDir, trip: this.tripPath };
  }

  /**
   * Find the sensors' files (a device given by name is looked up), read the
   * IIO scales, export and set up the PWM channel (period, duty of the
   * command `min`, enabled) and the GPIO line (an input becomes an output at
   * the tripped level), and read every sensor once. Rejects naming the
   * field (binding.<path>) when a file is missing or no sensor reads.
   */
  async start(): Promise<void> {
    if (this.started || this.closed) throw new Error('sysfs: start() called twice, or after close()');
    this.sensors = this.cfg.sensors.map((s, i) => this.resolveSensor(s, `binding.sensors[${i}]`));
    for (const [field, v] of [['feedback', this.cfg.feedback], ['reference', this.cfg.reference]] as const) {
      if (v && !existsSync(this.under(v.path))) throw new Error(`binding.${field}.path: ${this.under(v.path)} does not exist`);
    }
    try {
      this.pwmDir = await this.setupPwm();
      this.tripPath = await this.setupTrip();
      this.started = true;
      const first = this.read(0).sensors;
      if (first.every((s) => s === null)) throw new Error(`sysfs: no sensor could be read at start: ${this.errors.summary()}`);
    } catch (err) {
      this.failSafe();
      throw err;
    }
  }

  /** A start that failed after touching the outputs: the trip written and the PWM channel disabled, whatever was set up. */
  private failSafe(): void {
    this.started = false;
    if (this.tripPath) this.tryWrite('trip', this.tripPath, this.tripLevels.tripped);
    if (this.pwmDir) this.tryWrite('actuator', join(this.pwmDir, 'enable'), '0');
  }

  /** Write the trip (tripOnClose) and, if configured, disable the PWM channel; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.started) return;
    if (this.cfg.tripOnClose && this.tryWrite('trip', this.tripPath, this.tripLevels.tripped)) this.tripWritten = this.tripLevels.tripped;
    if (this.cfg.actuator.disableOnClose) this.tryWrite('actuator', join(this.pwmDir, 'enable'), '0');
    this.started = false;
  }

  read(_nowUs: number): IoReading {
    for (let i = 0; i < this.sensorsOut.length; i++) this.sensorsOut[i] = this.started ? this.readSensor(i) : null;
    return {
      sensors: this.sensorsOut,
      feedback: this.readValue('feedback', this.cfg.feedback),
      reference: this.readValue('reference', this.cfg.reference),
    };
  }

  write(command: number, _nowUs: number): void {
    if (!this.started) return;
    const a = this.cfg.actuator;
    if (!Number.isFinite(command)) {
      this.counters.rangeErrors++;
      this.errors.fail('actuator value', 'a command that is not a finite number was not written');
      return;
    }
    if (command < a.min || command > a.max) {
      this.counters.rangeErrors++;
      this.errors.fail('actuator value', `a command outside [${a.min}, ${a.max}] (actuator.min, max) is held to it`);
    } else {
      this.errors.ok('actuator value');
    }
    const duty = dutyCycleNs(command, a);
    if (duty === this.dutyWritten) return;
    this.dutyWritten = this.tryWrite('actuator', join(this.pwmDir, 'duty_cycle'), String(duty)) ? duty : null;
  }

  writeTrip(tripped: boolean, _nowUs: number): void {
    if (!this.started) return;
    const level = tripped ? this.tripLevels.tripped : this.tripLevels.run;
    if (level === this.tripWritten) return;
    // A failed write leaves tripWritten null: the next tick tries again.
    this.tripWritten = this.tryWrite('trip', this.tripPath, level) ? level : null;
  }

  private under(path: string): string {
    return join(this.cfg.root, path);
  }

  private readSensor(i: number): number | null {
    const s = this.sensors[i];
    const channel = `sensors[${i}]`;
    const v = this.readNumber(channel, s.path);
    if (v === null) return null;
    const counts = Math.round((v + s.iioOffset) * s.iioScale * s.scale + s.offset);
    if (!Number.isFinite(counts) || counts <= SAMPLE_NONE || counts > 2147483647) {
      this.counters.rangeErrors++;
      this.errors.fail(`${channel} value`, 'a reading that is no count in the i32 range (after scale and offset) is dropped');
      return null;
    }
    return counts;
  }

  private readValue(channel: string, v: { path: string; scale: number; offset: number } | undefined): number | null {
    if (!v || !this.started) return null;
    const n = this.readNumber(channel, this.under(v.path));
    return n === null ? null : n * v.scale + v.offset;
  }

  /** The number in a file, or null (counted, reported) if it cannot be read or is not a number. */
  private readNumber(channel: string, path: string): number | null {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      this.counters.readsFailed++;
      this.errors.fail(channel, `cannot read ${path} (${errorCode(err)})`);
      return null;
    }
    const v = parseSysfsNumber(text);
    if (v === null) {
      this.counters.readsFailed++;
      this.errors.fail(channel, `${path} does not hold a decimal number`);
      return null;
    }
    this.counters.reads++;
    this.errors.ok(channel);
    return v;
  }

  private tryWrite(channel: string, path: string, text: string): boolean {
    try {
      writeFileSync(path, text);
      this.counters.writes++;
      this.errors.ok(channel);
      return true;
    } catch (err) {
      this.counters.writesFailed++;
      this.errors.fail(channel, `cannot write ${path} (${errorCode(err)})`);
      return false;
    }
  }

  private resolveSensor(s: SysfsSensor, field: string): SensorFile {
    const path = s.path !== undefined ? this.under(s.path) : join(this.findDevice(s.source, s.device!, field), s.attribute!);
    if (!existsSync(path)) throw new Error(`${field}.${s.path !== undefined ? 'path' : 'attribute'}: ${path} does not exist`);
    const iio = s.iioScale ? iioScaleOf(path, `${field}.iioScale`) : { scale: 1, offset: 0 };
    return { path, iioScale: iio.scale, iioOffset: iio.offset, scale: s.scale, offset: s.offset };
  }

  /** The directory of the hwmon or IIO device whose `name` file says `name` (their numbers change from boot to boot). */
  private findDevice(source: SysfsSensor['source'], name: string, field: string): string {
    const classDir = this.under(source === 'hwmon' ? '/sys/class/hwmon' : '/sys/bus/iio/devices');
    let entries: string[];
    try {
      entries = readdirSync(classDir);
    } catch (err) {
      throw new Error(`${field}.device: cannot list ${classDir} (${errorCode(err)})`);
    }
    const devices = entries.map((e) => ({ dir: join(classDir, e), name: readTrimmed(join(classDir, e, 'name')) }));
    const hits = devices.filter((d) => d.name === name);
    if (hits.length === 1) return hits[0].dir;
    if (hits.length > 1) throw new Error(`${field}.device: ${hits.length} ${source} devices are named '${name}' (${hits.map((h) => h.dir).join(', ')}): give the path instead`);
    const names = devices.map((d) => d.name).filter((n) => n !== null);
    throw new Error(`${field}.device: no ${source} device named '${name}' under ${classDir} (found: ${names.join(', ') || 'none'})`);
  }

  /** Export the PWM channel if needed, then the period, the duty of the command `min`, and enable. */
  private async setupPwm(): Promise<string> {
    const a = this.cfg.actuator;
    const chip = this.under(`/sys/class/pwm/pwmchip${a.chip}`);
    if (!existsSync(chip)) throw new Error(`binding.actuator.chip: ${chip} does not exist (is the PWM controller enabled?)`);
    const dir = join(chip, `pwm${a.channel}`);
    if (!existsSync(dir)) {
      writeSetup('binding.actuator.channel', join(chip, 'export'), String(a.channel));
      await waitFor(join(dir, 'enable'), this.cfg.exportWaitMs, 'binding.actuator.channel');
    }
    // The kernel refuses a period shorter than the duty cycle in force: the duty goes to 0 first.
    writeSetup('binding.actuator', join(dir, 'duty_cycle'), '0');
    writeSetup('binding.actuator.periodNs', join(dir, 'period'), String(a.periodNs));
    const duty = dutyCycleNs(a.min, a);
    writeSetup('binding.actuator', join(dir, 'duty_cycle'), String(duty));
    this.dutyWritten = duty;
    writeSetup('binding.actuator', join(dir, 'enable'), '1');
    return dir;
  }

  /** The trip's value file; a GPIO line is exported if needed and, if it is an input, made an output at the tripped level. */
  private async setupTrip(): Promise<string> {
    const t = this.cfg.trip;
    if (t.type === 'file') {
      const path = this.under(t.path);
      if (!existsSync(path)) throw new Error(`binding.trip.path: ${path} does not exist`);
      return path;
    }
    const gpio = this.under('/sys/class/gpio');
    const dir = join(gpio, `gpio${t.line}`);
    if (!existsSync(dir)) {
      writeSetup('binding.trip.line', join(gpio, 'export'), String(t.line));
      await waitFor(join(dir, 'value'), this.cfg.exportWaitMs, 'binding.trip.line');
    }
    // 'high'/'low' make the line an output at that level in one step, without a glitch through the other level.
    if (readTrimmed(join(dir, 'direction')) !== 'out') {
      writeSetup('binding.trip.line', join(dir, 'direction'), this.tripLevels.tripped === '1' ? 'high' : 'low');
    } else {
      // Already an output (a restart after a watchdog kill): it may be left at run; tripped until the loop permits run.
      writeSetup('binding.trip.line', join(dir, 'value'), this.tripLevels.tripped);
    }
    this.tripWritten = this.tripLevels.tripped;
    return join(dir, 'value');
  }
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** A write during start(): a failure there is a setup error naming the field. */
function writeSetup(field: string, path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new Error(`${field}: cannot write '${text}' to ${path} (${errorCode(err)})`);
  }
}

/** Wait until `path` exists (udev makes an exported channel's files a moment after the export). */
async function waitFor(path: string, ms: number, field: string): Promise<void> {
  for (let waited = 0; !existsSync(path); waited += EXPORT_POLL_MS) {
    if (waited >= ms) throw new Error(`${field}: exported, but ${path} did not appear within ${ms} ms (exportWaitMs)`);
    await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
  }
}

/**
 * The IIO scale and offset of a `*_raw` file: the channel's own
 * (in_voltage0_scale) or the type's (in_voltage_scale); without an offset
 * file the offset is 0. value = (raw + offset) * scale (mV for a voltage).
 */
function iioScaleOf(rawPath: string, field: string): { scale: number; offset: number } {
  const file = basename(rawPath);
  if (!file.endsWith('_raw')) throw new Error(`${field}: ${rawPath} is not an IIO *_raw file`);
  const channel = file.slice(0, -'_raw'.length);
  const type = channel.replace(/(\d+(-[a-z]+\d+)?|_[xyz])$/, '');
  const dir = dirname(rawPath);
  const attr = (suffix: string): { path: string; value: number | null } | null => {
    for (const base of [channel, type]) {
      const path = join(dir, `${base}_${suffix}`);
      const text = readTrimmed(path);
      if (text !== null) return { path, value: parseSysfsNumber(text) };
    }
    return null;
  };
  const scale = attr('scale');
  if (scale === null) throw new Error(`${field}: neither ${channel}_scale nor ${type}_scale exists in ${dir}`);
  if (scale.value === null) throw new Error(`${field}: ${scale.path} does not hold a decimal number`);
  const offset = attr('offset');
  if (offset !== null && offset.value === null) throw new Error(`${field}: ${offset.path} does not hold a decimal number`);
  return { scale: scale.value, offset: offset?.value ?? 0 };
}
