// `edgeloop modbus-sim`: a simulated plant behind a Modbus TCP server, to
// commission a gateway before its field device is wired (and to rehearse
// docs/gateway.md). The plant is a firmware-sim device (sensor noise, the
// ADC, the driver and its feedback, the trip) stepped in real time; the
// server is modbus-serial's ServerTCP, not edgeloop's own code.
//
// Register map (unit id 1 by default, zero-based addresses):
//   input registers 0..n-1  the sensors' raw ADC codes (uint16)
//   input register  8       the actuator's feedback, x10 (int16: 0.1 units)
//   holding register 10     the actuator command, x10 (int16: 0.1 units)
//   coil 0                  run permitted (1) or tripped (0): de-energize to
//                           trip, so the device starts tripped until the
//                           agent permits run
//
// `--agent-config` prints an agent configuration for this device (the
// binding, and the plant's tuned core parameters as loop.params), ready for
// `edgeloop agent --config`.

import { stringify } from 'yaml';
import { ServerTCP } from 'modbus-serial';
import { SimDevice } from '../../firmware-sim/device.js';
import type { FaultSpec, PlantName } from '../../firmware-sim/types.js';
import type { Print } from './system.js';
import { untilStopped } from './system.js';

export const REGISTERS = { sensors: 0, feedback: 8, command: 10, runCoil: 0 } as const;
/** Feedback and command registers hold tenths of the actuator's unit. */
export const TENTHS = 10;
/** The fastest poll a Modbus binding takes (host/io/config.ts, pollMs). */
const MIN_POLL_MS = 5;

export interface ModbusSimOptions {
  plant: PlantName;
  seed: number;
  host: string;
  port: number;
  unitId: number;
  fault?: FaultSpec;
}

/** The plant stepped on a timer in real time; the registers read its last sample. */
class SimulatedDevice {
  readonly device: SimDevice;
  private readonly t0 = performance.now();
  private readonly codes: number[];
  private feedback = 0;
  private command = 0;
  private run = false;
  private readonly timer: NodeJS.Timeout;
  writes = 0;

  constructor(o: ModbusSimOptions) {
    this.device = new SimDevice({ plant: o.plant, seed: o.seed, faults: o.fault ? [o.fault] : [] });
    this.codes = new Array<number>(this.device.spec.sensors.count).fill(0);
    this.device.writeTrip(true, 0);
    const periodMs = Math.max(5, Math.round(this.device.spec.periodUs / 1000));
    this.step();
    this.timer = setInterval(() => this.step(), periodMs);
  }

  private nowUs(): number { return Math.round((performance.now() - this.t0) * 1000); }

  private step(): void {
    const r = this.device.read(this.nowUs());
    r.sensors.forEach((c, i) => { if (c !== null) this.codes[i] = c; });   // a missing sample keeps the last code
    if (r.feedback !== null && Number.isFinite(r.feedback)) this.feedback = r.feedback;
  }

  readonly vector = {
    getInputRegister: (addr: number): number => {
      if (addr >= REGISTERS.sensors && addr < REGISTERS.sensors + this.codes.length) return this.codes[addr - REGISTERS.sensors];
      if (addr === REGISTERS.feedback) return toInt16(this.feedback * TENTHS);
      return 0;
    },
    getHoldingRegister: (addr: number): number => (addr === REGISTERS.command ? toInt16(this.command * TENTHS) : 0),
    getCoil: (addr: number): boolean => addr === REGISTERS.runCoil && this.run,
    getDiscreteInput: (): boolean => false,
    setRegister: (addr: number, value: number): void => {
      if (addr !== REGISTERS.command) return;
      this.command = fromInt16(value) / TENTHS;
      this.device.write(this.command, this.nowUs());
      this.writes++;
    },
    setCoil: (addr: number, value: boolean): void => {
      if (addr !== REGISTERS.runCoil) return;
      this.run = value;
      this.device.writeTrip(!value, this.nowUs());
      this.writes++;
    },
  };

  get state(): { truth: number; command: number; run: boolean } {
    return { truth: this.device.truth, command: this.command, run: this.run };
  }

  close(): void { clearInterval(this.timer); }
}

const toInt16 = (v: number) => { const n = Math.max(-32768, Math.min(32767, Math.round(v))); return n < 0 ? n + 65536 : n; };
const fromInt16 = (v: number) => (v >= 32768 ? v - 65536 : v);

/** An agent configuration for this simulated device: the binding and the plant's tuned core parameters. */
export function agentConfigFor(o: ModbusSimOptions & { broker: string; node: string }): string {
  const device = new SimDevice({ plant: o.plant, seed: o.seed });
  const spec = device.spec;
  // A loop needs a fresh sample every tick: the binding polls at half the loop's period or faster (docs/io.md).
  const pollMs = Math.floor(spec.periodUs / 2000);
  if (pollMs < MIN_POLL_MS) {
    throw new Error(`modbus-sim: the ${o.plant}'s ${spec.periodUs / 1000} ms loop is faster than a Modbus poll can serve ` +
      `(at most every ${MIN_POLL_MS} ms; it needs a fresh sample every tick): run it on the simulated plant (binding kind sim) instead`);
  }
  const config = {
    broker: { url: o.broker },
    identity: { group: 'plant1', node: o.node, device: 'loop' },
    binding: {
      kind: 'modbus',
      transport: { type: 'tcp', host: o.host, port: o.port, unitId: o.unitId },
      pollMs,
      sensors: Array.from({ length: spec.sensors.count }, (_, i) => ({ kind: 'input', address: REGISTERS.sensors + i, dataType: 'uint16' })),
      command: { address: REGISTERS.command, dataType: 'int16', scale: 1 / TENTHS },
      feedback: { kind: 'input', address: REGISTERS.feedback, dataType: 'int16', scale: 1 / TENTHS },
      trip: { kind: 'coil', address: REGISTERS.runCoil, trippedValue: 0, runValue: 1 },
    },
    loop: {
      description: `${spec.description} (edgeloop modbus-sim)`,
      setpoint: spec.setpoint,
      units: spec.units,
      trip: spec.trip.description,
      params: device.config,
    },
  };
  return `# An agent for \`edgeloop modbus-sim --plant ${o.plant} --port ${o.port}\`: ${spec.description}.\n` +
    '# loop.params are the plant\'s tuned core parameters (docs/core.md); a real plant needs its own.\n' + stringify(config);
}

/** The simulated device, serving until SIGINT/SIGTERM (or `signal`). */
export async function modbusSimCommand(o: ModbusSimOptions, print: Print, signal?: AbortSignal): Promise<number> {
  const sim = new SimulatedDevice(o);
  let server: ServerTCP;
  try {
    server = await listen(sim, o);
  } catch (err) {
    sim.close();
    throw new Error(`modbus-sim: cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`);
  }
  const spec = sim.device.spec;
  print(`modbus-sim: ${spec.description}`);
  print(`modbus-sim: Modbus TCP on ${o.host}:${o.port}, unit ${o.unitId}; input registers ${REGISTERS.sensors}..${REGISTERS.sensors + spec.sensors.count - 1} ` +
    `the sensors' ADC codes, input register ${REGISTERS.feedback} the feedback x${TENTHS}, holding register ${REGISTERS.command} the command x${TENTHS} (${spec.units.command}), ` +
    `coil ${REGISTERS.runCoil} run permitted (0: tripped; it starts tripped)`);
  const status = setInterval(() => {
    const s = sim.state;
    print(`modbus-sim: ${s.run ? 'running' : 'TRIPPED'}; process ${s.truth.toFixed(2)} ${spec.units.measurement}, command ${s.command.toFixed(1)} ${spec.units.command}; ${sim.writes} writes`);
  }, 10_000);
  const why = await untilStopped(signal);
  clearInterval(status);
  sim.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  print(`modbus-sim: stopped (${why})`);
  return 0;
}

function listen(sim: SimulatedDevice, o: ModbusSimOptions): Promise<ServerTCP> {
  return new Promise((resolve, reject) => {
    const server = new ServerTCP(sim.vector, { host: o.host, port: o.port, unitID: o.unitId });
    server.on('socketError', () => { /* a client that drops its connection: the next one is served */ });
    server.on('initialized', () => resolve(server));
    server.on('serverError', (e) => reject(e as Error));
    server.on('error', () => { /* a request the device cannot answer: the client gets the exception */ });
  });
}
