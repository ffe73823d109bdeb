// A firmware-sim device as an agent's I/O binding: a simulated plant behind
// an ADC (with sensor noise), a DAC/PWM driver with feedback, a trip output,
// and the same seeded fault injectors the scenario runner uses. It
// implements the interface a real sensor/actuator driver implements
// (host/io/binding.ts IoBinding), so an agent cannot tell it from hardware.
//
// Time is the agent's clock: each read() advances the plant from the
// previous read under the actuator value applied since.
//
// The trip output reaches the plant's trip (PlantSpec.trip: the heater's
// contactor, the drive's safe torque off, the isolation valves), bypassing
// the driver and any fault in it, unless a trip.fail fault (a welded
// contactor) keeps it from acting. While it acts the plant gets no actuator
// input and the feedback reads what the plant's trip makes it read; the
// actuator path still follows the commands, as the simulation loop
// (firmware-sim/loop/simulation.ts) does.

import type { IoBinding } from '../host/io/binding.js';
import type { ParamName, ParamValue } from '../host/runtime/core.js';
import { Adc, Dac } from './mcu.js';
import { PLANTS } from './plants/index.js';
import { Rng } from './rng.js';
import { compileFaults } from './faults/index.js';
import { coreConfig } from './run.js';
import type { FaultHooks, FaultSpec, Plant, PlantName, PlantSpec } from './types.js';
import type { Scenario } from './scenario/schema.js';

export interface SimDeviceOptions {
  plant: PlantName;
  seed: number;
  /** Faults to inject; memory faults need the core's memory and are refused here. */
  faults?: readonly FaultSpec[];
  /** Start at rest instead of at the operating point. */
  cold?: boolean;
  /** A local reference feed (engineering units), read each tick; see IoBinding.reference. */
  reference?: (nowUs: number) => number | null;
  /** Extra core parameters over the plant's tuned ones. */
  core?: Partial<Record<ParamName, ParamValue>>;
}

export class SimDevice implements IoBinding {
  readonly spec: PlantSpec;
  readonly adc: Adc;
  readonly plant: Plant;
  /** The core configuration this device's loop runs with (the plant's tuned one). */
  readonly config: Partial<Record<ParamName, ParamValue>>;
  private readonly dac: Dac;
  private readonly faults: FaultHooks;
  private readonly noiseRng: Rng;
  private lastUs: number | null = null;
  private appliedU: number;
  /** The trip output as the agent drives it (true: de-energized). */
  private tripDemand = false;
  /** Whether the trip acts at the plant: demanded, and the contactor opened (a trip.fail fault keeps it closed). */
  private tripped = false;
  private readonly codes: (number | null)[];

  constructor(private readonly opts: SimDeviceOptions) {
    const spec = PLANTS[opts.plant];
    if (!spec) throw new RangeError(`device: plant must be one of ${Object.keys(PLANTS).join(', ')}, got '${opts.plant}'`);
    // A device stands for sensors and an actuator: it injects their faults. Timing,
    // communication and memory faults belong to the MCU and the host around the
    // core, which the scenario runner simulates ('edgeloop sim').
    const other = (opts.faults ?? []).find((f) => !f.kind.startsWith('sensor.') && !f.kind.startsWith('actuator.') && !f.kind.startsWith('trip.'));
    if (other) throw new RangeError(`device: fault '${other.kind}' is not a sensor, actuator or trip fault; a device injects only those (run it with 'edgeloop sim' instead)`);
    this.spec = spec;
    const rng = new Rng(opts.seed);
    this.noiseRng = new Rng(rng.u32());
    this.adc = new Adc(spec.sensors.min, spec.sensors.max, spec.sensors.adcBits);
    this.dac = new Dac(spec.actuator.min, spec.actuator.max, spec.actuator.bits);
    const sc = { plant: opts.plant, seed: opts.seed, guarded: true, actionToSensing: false, core: opts.core ?? {} } as unknown as Scenario;
    this.config = coreConfig(spec, sc, this.adc);
    this.faults = compileFaults([...(opts.faults ?? [])], new Rng(rng.u32()), {
      sensorCount: spec.sensors.count, adcMaxCode: this.adc.maxCode,
      actuatorMin: spec.actuator.min, actuatorMax: spec.actuator.max, periodUs: spec.periodUs, memoryRegions: [],
    });
    this.plant = spec.create({ cold: opts.cold });
    this.appliedU = opts.cold ? spec.actuator.min : spec.uNominal;
    this.codes = new Array(spec.sensors.count).fill(null);
  }

  /** The true process value (what a perfect sensor would read). */
  get truth(): number { return this.plant.output; }
  /** What the actuator path applies now (through the DAC and its faults); while the trip acts, the plant gets none of it. */
  get applied(): number { return this.appliedU; }
  /** What the actuator's feedback reads now: what it applies, or with the trip acting, what the plant's trip makes it read. */
  get feedback(): number { return this.tripped ? this.spec.trip.feedback : this.appliedU; }
  /** Whether the trip output is de-energized (as the agent drove it last). */
  get trip(): boolean { return this.tripDemand; }
  /** Whether the trip acts at the plant (de-energized and not defeated by a welded contactor). */
  get tripActing(): boolean { return this.tripped; }
  /** What the trip does to this device's plant (PlantSpec.trip.description). */
  get tripDescription(): string { return this.spec.trip.description; }

  read(nowUs: number): { sensors: (number | null)[]; feedback: number | null; reference: number | null } {
    if (this.lastUs !== null && nowUs > this.lastUs) this.plant.step(this.appliedU, (nowUs - this.lastUs) / 1e6, 0, this.tripped);
    this.lastUs = nowUs;
    const tS = nowUs / 1e6;
    const noise = this.spec.sensors.noise;
    for (let i = 0; i < this.codes.length; i++) {
      const physical = this.faults.sensorPhysical(i, this.plant.output + noise * this.noiseRng.gauss(), tS);
      this.codes[i] = this.faults.sensorCode(i, this.adc.code(physical), tS);
    }
    return {
      sensors: this.codes,
      feedback: this.spec.actuator.feedback ? this.feedback : null,
      reference: this.opts.reference ? this.opts.reference(nowUs) : null,
    };
  }

  write(command: number, nowUs: number): void {
    // A non-finite command drives the DAC to its low end (what a real driver does with garbage).
    const u = this.faults.actuator(this.dac.output(Number.isFinite(command) ? command : this.spec.actuator.min), nowUs / 1e6);
    this.appliedU = Math.min(this.spec.actuator.max, Math.max(this.spec.actuator.min, u));
  }

  /** De-energize to trip: the plant's trip acts (its actuator input cut) unless a welded contactor (trip.fail) keeps it from acting. */
  writeTrip(tripped: boolean, nowUs: number): void {
    this.tripDemand = tripped;
    this.tripped = tripped && !this.faults.tripFails(nowUs / 1e6);
  }

  /** A transmitter on the true value (noise and ADC quantization, no faults): what a wired feed to another loop carries. */
  transmit(): number {
    return this.adc.value(this.adc.code(this.plant.output + this.spec.sensors.noise * this.noiseRng.gauss()));
  }
}
