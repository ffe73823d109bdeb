// The Modbus binding against a real Modbus TCP server (modbus-serial's
// ServerTCP) on loopback: a heater whose temperature, heater power and
// contactor live in registers and a coil, a loop closed through them by a
// real core, the data types and word orders checked against known register
// images, a device that stops answering or goes away and comes back, and the
// trip's precedence. Each test bounds its waits and stops what it started.

import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as wait } from 'node:timers/promises';
import { ServerTCP } from 'modbus-serial';
import fc from 'fast-check';
import { Core } from '../../host/runtime/core.js';
import { Fopdt } from '../../firmware-sim/plants/fopdt.js';
import { fieldCoreBytes } from '../support/core.js';
import {
  DATA_TYPE_RANGE, MODBUS_DATA_TYPES, ModbusBinding, decodeRegisters, encodeRegisters, rawForValue, type ModbusDataType,
} from '../../host/io/modbus.js';
import { BindingConfigError, bindingConfigIssues, createBinding, parseBindingConfig, type ModbusConfigInput } from '../../host/io/config.js';

/** A Modbus TCP device on 127.0.0.1: register banks a test sets and inspects, and a switch that makes it stop answering. */
class Device {
  readonly holding = new Map<number, number>();
  readonly input = new Map<number, number>();
  readonly coils = new Map<number, boolean>();
  /** Every write the device took, in order of arrival ('coil 0=false', 'reg 10=300'); the last WRITES_KEPT. */
  readonly writes: string[] = [];
  /** Requests get no answer at all (a device that hangs, or a cable cut behind a gateway). */
  silent = false;
  port = 0;
  private server: ServerTCP | null = null;

  private answer<T>(f: () => T): T | Promise<T> {
    return this.silent ? new Promise<T>(() => {}) : f();
  }

  private log(entry: string): void {
    this.writes.push(entry);
    if (this.writes.length > 1000) this.writes.shift();
  }

  private readonly vector = {
    getHoldingRegister: (addr: number) => this.answer(() => this.holding.get(addr) ?? 0),
    getInputRegister: (addr: number) => this.answer(() => this.input.get(addr) ?? 0),
    getCoil: (addr: number) => this.answer(() => this.coils.get(addr) ?? false),
    getDiscreteInput: (addr: number) => this.answer(() => this.coils.get(addr) ?? false),
    setRegister: (addr: number, value: number) => this.answer(() => { this.holding.set(addr, value); this.log(`reg ${addr}=${value}`); }),
    setCoil: (addr: number, value: boolean) => this.answer(() => { this.coils.set(addr, value); this.log(`coil ${addr}=${value}`); }),
  };

  /** Listen on `port`, or on a random free high port (ServerTCP takes 0 as its default 502). */
  async listen(port?: number): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const p = port ?? 20_000 + Math.floor(Math.random() * 40_000);
      const server = new ServerTCP(this.vector, { host: '127.0.0.1', port: p, unitID: 1 });
      server.on('error', () => {});
      server.on('socketError', () => {});
      const err = await new Promise<Error | null>((resolve) => {
        server.on('initialized', () => resolve(null));
        server.on('serverError', (e) => resolve(e));
      });
      if (err === null) {
        this.server = server;
        this.port = p;
        return;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await wait(20);
    }
    throw new Error('no free port for the Modbus server');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Wait for a condition, a bounded number of short waits; then assert it (the failure names what did not happen). */
async function until(pred: () => boolean, what: string, tries = 600): Promise<void> {
  let ok = pred();
  for (let i = 0; i < tries && !ok; i++) {
    await wait(5);
    ok = pred();
  }
  expect(ok, what).toBe(true);
}

/** A binding configuration for the test device, fast timings (a loopback answers in well under a millisecond). */
function config(port: number, over: Partial<ModbusConfigInput> = {}): ModbusConfigInput {
  return {
    kind: 'modbus',
    transport: { type: 'tcp', host: '127.0.0.1', port, unitId: 1 },
    sensors: [{ kind: 'input', address: 0 }],
    command: { address: 10, dataType: 'uint16', scale: 0.1 },
    trip: { kind: 'coil', address: 0 },
    pollMs: 5, staleMs: 200, timeoutMs: 100, retries: 1, reconnectMinMs: 20, reconnectMaxMs: 100, startTimeoutMs: 5000,
    ...over,
  };
}

const open: { close(): Promise<void> }[] = [];
function track<T extends { close(): Promise<void> }>(x: T): T {
  open.push(x);
  return x;
}
const devices: Device[] = [];
async function device(): Promise<Device> {
  const d = new Device();
  await d.listen();
  devices.push(d);
  return d;
}

afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
  for (const d of devices.splice(0)) await d.stop();
});

describe('a heater loop closed over Modbus TCP', () => {
  it('settles the heater at its setpoint: temperature (int16 x10) in, heater power (uint16 x0.1 %) out, contactor on a coil', async () => {
    // The device: temperature in input register 0 (0.1 C per count), measured heater power in input
    // register 1, the heater command in holding register 10 (0.1 % per count), the contactor on coil 0.
    // The plant moves in simulated time, one 100 ms period per tick, under what the device applies.
    const dev = await device();
    const plant = new Fopdt({ k: 1.5, tau: 5, theta: 0, ambient: 20, dt: 0.1 });
    const applied = () => (dev.coils.get(0) ? (dev.holding.get(10) ?? 0) / 10 : 0);
    const show = () => {
      dev.input.set(0, Math.round(plant.output * 10));
      dev.input.set(1, Math.round(applied() * 10));
    };
    show();
    const binding = track(createBinding(config(dev.port, {
      sensors: [{ kind: 'input', address: 0, dataType: 'int16' }],
      feedback: { kind: 'input', address: 1, dataType: 'uint16', scale: 0.1 },
    })) as ModbusBinding);
    await binding.start();
    const core = Core.fromBytes(fieldCoreBytes());
    core.configure({ s0_scale: 0.1, range_min: -10, range_max: 200, kp: 4, ti: 3, out_min: 0, out_max: 100,
      model_gain: 1.5, model_tau: 5, model_offset: 20, resid_sigma: 0.2, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(60, 0);

    let now = 0;
    let u = 0;
    for (let tick = 0; tick < 200; tick++) {
      now += 100_000;
      plant.step(applied());
      show();
      // A poll that began after the plant moved: the core gets this period's sample, not the last one.
      const polls = binding.stats.polls;
      await until(() => binding.stats.polls >= polls + 2, `a poll after tick ${tick}`);
      u = core.tick(now, binding.read(now));
      binding.write(u, now);
      binding.writeTrip(core.tripped, now);
      await until(() => dev.holding.get(10) === Math.round(u * 10) && dev.coils.get(0) === true, `the command and run permit of tick ${tick} at the device`);
    }
    // 20 C -> 60 C in 20 s of a 5 s plant: settled, on the core's own measurement and on the plant's truth.
    expect(core.mode).toBe('NOMINAL');
    expect(core.tripped).toBe(false);
    expect(Math.abs(plant.output - 60)).toBeLessThan(0.5);
    expect(Math.abs(core.measurement - 60)).toBeLessThan(0.5);
    // The heater holds 40 C over ambient: 40 / 1.5 = 26.7 %.
    expect(u).toBeGreaterThan(24);
    expect(u).toBeLessThan(29);
    expect(binding.stats.readsFailed).toBe(0);
  });
});

describe('data types, word and byte orders', () => {
  // Register images written out by hand (not by the code under test): what a device with each layout holds.
  const CASES: { type: ModbusDataType; wordOrder?: 'big' | 'little'; byteOrder?: 'big' | 'little'; value: number; words: number[]; scale?: number }[] = [
    { type: 'int16', value: -1234, words: [0xfb2e] },
    { type: 'int16', byteOrder: 'little', value: -1234, words: [0x2efb] },
    { type: 'uint16', value: 50_000, words: [0xc350] },
    { type: 'int32', value: -100_000, words: [0xfffe, 0x7960] },
    { type: 'int32', wordOrder: 'little', value: -100_000, words: [0x7960, 0xfffe] },
    { type: 'uint32', value: 3_000_000_000, words: [0xb2d0, 0x5e00], scale: 0.5 },
    { type: 'float32', value: 12.5, words: [0x4148, 0x0000] },
    { type: 'float32', wordOrder: 'little', value: 12.5, words: [0x0000, 0x4148] },
    { type: 'float32', wordOrder: 'little', value: -3.75, words: [0x0000, 0xc070] },
    { type: 'float32', byteOrder: 'little', value: 12.5, words: [0x4841, 0x0000] },
  ];

  it.each(CASES)('$type, words $wordOrder, bytes $byteOrder: $value read (scaled) and written as the device holds it', async (c) => {
    const dev = await device();
    c.words.forEach((w, i) => dev.holding.set(100 + i, w));
    const layout = { dataType: c.type, wordOrder: c.wordOrder ?? 'big', byteOrder: c.byteOrder ?? 'big' };
    // Sensor: counts = raw * 4 + 3 (a float in engineering units becomes counts of 0.25); 3e9 * 4 would be beyond the counts' i32.
    const scale = c.scale ?? 4;
    const binding = track(createBinding(config(dev.port, {
      sensors: [{ kind: 'holding', address: 100, ...layout, scale, offset: 3 }],
      command: { address: 200, ...layout },
      feedback: { kind: 'holding', address: 200, ...layout },
    })) as ModbusBinding);
    await binding.start();
    expect(binding.read(0).sensors).toEqual([Math.round(c.value * scale + 3)]);

    binding.write(c.value, 0);
    await until(() => c.words.every((w, i) => dev.holding.get(200 + i) === w), `the command's registers ${c.words.map((w) => w.toString(16))}`);
    await until(() => binding.read(0).feedback === c.value, 'the command read back as feedback');
    expect(binding.stats.rangeErrors).toBe(0);
  });

  it('a scaled command is rounded to the register, and one beyond the type saturates, counted, reported once', async () => {
    const dev = await device();
    const reports: string[] = [];
    const binding = track(createBinding(config(dev.port), { onError: (m) => reports.push(m) }) as ModbusBinding);
    await binding.start();
    binding.write(12.34, 0);           // 0.1 % per count: 123
    await until(() => dev.holding.get(10) === 123, 'raw 123');
    for (let i = 0; i < 3; i++) binding.write(7000, 0);   // 70,000 counts: beyond uint16
    await until(() => dev.holding.get(10) === 65535, 'the nearest end, 65535');
    expect(binding.stats.rangeErrors).toBe(3);
    expect(reports.filter((m) => m.includes('command value'))).toHaveLength(1);
    expect(reports[0]).toMatch(/outside what uint16 holds/);
    // The contrapositive: a command in range is written as is, and nothing more is reported.
    binding.write(50, 0);
    await until(() => dev.holding.get(10) === 500, 'raw 500');
    expect(binding.stats.rangeErrors).toBe(3);
  });

  it('decode(encode(raw)) is raw for every type and order (float32 to its precision)', () => {
    const layouts = MODBUS_DATA_TYPES.flatMap((dataType) => (['big', 'little'] as const).flatMap((wordOrder) =>
      (['big', 'little'] as const).map((byteOrder) => ({ dataType, wordOrder, byteOrder }))));
    fc.assert(fc.property(fc.constantFrom(...layouts), fc.double({ min: -5e9, max: 5e9, noNaN: true }), (layout, x) => {
      const [lo, hi] = DATA_TYPE_RANGE[layout.dataType];
      const { raw } = rawForValue(x, { dataType: layout.dataType, scale: 1, offset: 0 });
      expect(raw).toBeGreaterThanOrEqual(lo);
      expect(raw).toBeLessThanOrEqual(hi);
      const words = encodeRegisters(raw, layout);
      expect(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)).toBe(true);
      expect(decodeRegisters(words, layout)).toBe(layout.dataType === 'float32' ? Math.fround(raw) : raw);
    }), { numRuns: 2000 });
  });
});

describe('samples and commands between the tick and the wire', () => {
  it('a sample goes to the core once: a tick with no poll since the last gets null, counted', async () => {
    const dev = await device();
    dev.input.set(0, 250);
    const binding = track(createBinding(config(dev.port)) as ModbusBinding);
    await binding.start();
    // Two ticks in the same turn of the event loop: no poll can have come between them.
    expect(binding.read(0).sensors).toEqual([250]);
    expect(binding.read(1).sensors).toEqual([null]);
    expect(binding.stats.repeatedSamples).toBe(1);
    // The contrapositive: after a poll, a fresh sample again.
    const polls = binding.stats.polls;
    await until(() => binding.stats.polls > polls, 'a poll');
    expect(binding.read(2).sensors).toEqual([250]);
  });

  it('only the newest of the commands written between two turns of the writer reaches the device', async () => {
    const dev = await device();
    const binding = track(createBinding(config(dev.port)) as ModbusBinding);
    await binding.start();
    const from = dev.writes.length;
    binding.write(10, 0);
    binding.write(20, 1);
    binding.write(30, 2);
    await until(() => dev.holding.get(10) === 300, 'the newest command');
    expect(dev.writes.slice(from).filter((w) => w.startsWith('reg 10='))).toEqual(['reg 10=300']);
  });
});

describe('a device that stops answering, or goes away', () => {
  it('gives null samples (counted) and never throws; reopens the connection, and the samples come back', async () => {
    const dev = await device();
    dev.input.set(0, 425);
    const reports: string[] = [];
    const binding = track(createBinding(config(dev.port, { timeoutMs: 30, staleMs: 60, failuresToReconnect: 3 }), { onError: (m) => reports.push(m) }) as ModbusBinding);
    await binding.start();
    await until(() => binding.read(0).sensors[0] === 425, 'a sample');

    // The device hangs at t0: requests time out, the samples age past staleMs, the TCP connection is reopened.
    dev.silent = true;
    const failed = binding.stats.readsFailed;
    await until(() => binding.stats.readsFailed >= failed + 4 && binding.stats.reconnects >= 1, 'failed reads and a reconnection');
    let nulls = 0;
    for (let i = 0; i < 20; i++) {
      const r = binding.read(i);
      if (r.sensors[0] === null) nulls++;
      binding.write(40, i);
      binding.writeTrip(false, i);
      await wait(2);
    }
    expect(nulls).toBe(20);
    expect(binding.stats.staleSamples).toBeGreaterThanOrEqual(20);
    expect(reports.some((m) => /sensors\[0\].*no answer within 30 ms \(2 tries\)/.test(m))).toBe(true);
    // Once per state, not per retry: far fewer reports than failures.
    expect(reports.length).toBeLessThan(binding.stats.readsFailed);

    // It answers again: fresh samples reach read().
    dev.silent = false;
    dev.input.set(0, 430);
    await until(() => binding.read(0).sensors[0] === 430, 'samples again after the device answers');
  });

  it('reconnects to a device that went away and came back, and writes both outputs again (the device forgot them)', async () => {
    const dev = await device();
    dev.input.set(0, 100);
    // No refresh within the test: only the reconnection can bring the outputs back.
    const binding = track(createBinding(config(dev.port, { refreshMs: 600_000 })) as ModbusBinding);
    await binding.start();
    binding.write(33.3, 0);
    binding.writeTrip(false, 0);
    await until(() => dev.holding.get(10) === 333 && dev.coils.get(0) === true, 'the outputs at the device');

    // The device goes away: the connection drops, reads fail, read() gives null and never throws.
    const port = dev.port;
    await dev.stop();
    await until(() => !binding.stats.connected, 'the loss seen');
    await until(() => binding.read(0).sensors[0] === null, 'null samples while it is away');

    // It comes back with its power-up state: no command, contactor open.
    const back = new Device();
    devices.push(back);
    back.input.set(0, 101);
    await back.listen(port);
    await until(() => binding.stats.connected && binding.stats.reconnects === 1, 'the reconnection');
    await until(() => back.holding.get(10) === 333 && back.coils.get(0) === true, 'both outputs written again');
    await until(() => binding.read(0).sensors[0] === 101, 'samples from the device that came back');
  });

  it('start() gives up after startTimeoutMs naming the transport and the error, and leaves nothing running', async () => {
    const dev = await device();
    const port = dev.port;
    await dev.stop();   // a port where nothing listens
    const binding = createBinding(config(port, { startTimeoutMs: 300 })) as ModbusBinding;
    await expect(binding.start()).rejects.toThrow(new RegExp(`modbus tcp 127.0.0.1:${port} unit 1: no sensor sample within 300 ms .*connection: .*ECONNREFUSED`));
    expect(binding.stats.connected).toBe(false);
  });
});

describe('the trip output', () => {
  it('goes out before a command written in the same tick, is refreshed, and is written on close', async () => {
    const dev = await device();
    const binding = track(createBinding(config(dev.port, { refreshMs: 50 })) as ModbusBinding);
    await binding.start();
    binding.write(30, 0);
    binding.writeTrip(false, 0);
    await until(() => dev.holding.get(10) === 300 && dev.coils.get(0) === true, 'run permitted, 30 %');

    // The command is written first by the caller, the trip second: the trip still reaches the device first.
    const from = dev.writes.length;
    binding.write(77, 1);
    binding.writeTrip(true, 1);
    await until(() => dev.holding.get(10) === 770 && dev.coils.get(0) === false, 'tripped, 77 %');
    const after = dev.writes.slice(from);
    expect(after.indexOf('coil 0=false')).toBeGreaterThanOrEqual(0);
    expect(after.indexOf('coil 0=false')).toBeLessThan(after.indexOf('reg 10=770'));

    // Something closes the contactor behind the binding's back (a device's power-up default): the refresh opens it again.
    dev.coils.set(0, true);
    await until(() => dev.coils.get(0) === false, 'the trip refreshed');

    // Run permitted again, then close(): the binding's last word is the trip.
    binding.writeTrip(false, 2);
    await until(() => dev.coils.get(0) === true, 'run permitted');
    await binding.close();
    expect(dev.coils.get(0)).toBe(false);
  });

  it('with tripOnClose false, close() leaves the output as the loop left it (the contrapositive)', async () => {
    const dev = await device();
    const binding = track(createBinding(config(dev.port, { tripOnClose: false })) as ModbusBinding);
    await binding.start();
    binding.writeTrip(false, 0);
    await until(() => dev.coils.get(0) === true, 'run permitted');
    await binding.close();
    expect(dev.coils.get(0)).toBe(true);
  });

  it('on a holding register, writes its configured tripped and run values', async () => {
    const dev = await device();
    const binding = track(createBinding(config(dev.port, { trip: { kind: 'holding', address: 7, trippedValue: 0, runValue: 0x5a5a } })) as ModbusBinding);
    await binding.start();
    binding.writeTrip(false, 0);
    await until(() => dev.holding.get(7) === 0x5a5a, 'the run value');
    binding.writeTrip(true, 1);
    await until(() => dev.holding.get(7) === 0, 'the tripped value');
  });
});

describe('configuration', () => {
  const good = config(502);

  it('a valid configuration gets its defaults', () => {
    expect(bindingConfigIssues(good)).toEqual([]);
    const c = parseBindingConfig({ kind: 'modbus', transport: { type: 'tcp', host: 'plc' }, sensors: [{ address: 0 }], command: { address: 1 }, trip: { address: 0 } });
    expect(c).toMatchObject({ transport: { port: 502, unitId: 1 }, pollMs: 50, staleMs: 500, tripOnClose: true,
      sensors: [{ kind: 'holding', dataType: 'int16', wordOrder: 'big', byteOrder: 'big', scale: 1, offset: 0 }], trip: { kind: 'coil', trippedValue: 0, runValue: 1 } });
  });

  it.each([
    [{ sensors: [{ address: -1 }] }, /^binding\.sensors\[0\]\.address: expected a register address .*an integer 0\.\.65535 \(received -1\)$/],
    [{ sensors: [{ address: 1, adress: 2 }] }, /^binding\.sensors\[0\]: unknown field 'adress'/],
    [{ sensors: [] }, /^binding\.sensors: expected 1 to 3 sensor points/],
    [{ sensors: [{ address: 0 }, { address: 1 }, { address: 2 }, { address: 3 }] }, /^binding\.sensors: expected 1 to 3 sensor points/],
    [{ sensors: [{ kind: 'coil', address: 0, dataType: 'float32' }] }, /^binding\.sensors\[0\]\.dataType: a coil or discrete input is one bit/],
    [{ sensors: [{ address: 65535, dataType: 'int32' }] }, /^binding\.sensors\[0\]\.address: a 32-bit value at this address would run past register 65535/],
    [{ command: { kind: 'input', address: 3 } }, /^binding\.command\.kind: expected 'holding'/],
    [{ trip: { kind: 'coil', address: 0, trippedValue: 1, runValue: 1 } }, /^binding\.trip\.runValue: expected trippedValue and runValue to differ/],
    [{ trip: { kind: 'coil', address: 0, runValue: 7 } }, /^binding\.trip\.trippedValue: a coil is 0 or 1/],
    [{ pollMs: 100, staleMs: 100 }, /^binding\.staleMs: expected staleMs greater than pollMs/],
    [{ transport: { type: 'tcp', port: 502 } }, /^binding\.transport\.host: expected a host name or IP address/],
    [{ transport: { type: 'rtu', path: '/dev/ttyUSB0', unitId: 0 } }, /^binding\.transport\.unitId: expected a unit id .*1\.\.247 \(received 0\)/],
    [{ transport: { type: 'udp', host: 'x' } }, /^binding\.transport(\.type)?: expected a transport/],
    [{ kind: 'sim' }, /^binding(\.kind)?: expected a binding: \{ kind: 'modbus'/],
  ] as [Record<string, unknown>, RegExp][])('%j is refused naming the field', (over, expected) => {
    const issues = bindingConfigIssues({ ...good, ...over });
    expect(issues.some((m) => expected.test(m)), issues.join('\n')).toBe(true);
    expect(() => createBinding({ ...good, ...over })).toThrow(BindingConfigError);
  });

  it('createBinding refuses with every problem at once, each under binding.', () => {
    try {
      createBinding({ ...good, sensors: [{ address: -1 }], pollMs: 0 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BindingConfigError);
      const m = (err as Error).message;
      expect(m).toMatch(/binding\.sensors\[0\]\.address: expected .*0\.\.65535 \(received -1\)/);
      expect(m).toMatch(/binding\.pollMs: expected a poll period in ms, an integer 5\.\.60000 \(received 0\)/);
    }
  });

  it('the examples in examples/bindings/ and the JSON in docs/io.md are valid, and the docs show the files as they are', () => {
    const dir = new URL('../../examples/bindings/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const examples = files.map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as unknown);
    examples.forEach((e, i) => expect(bindingConfigIssues(e), files[i]).toEqual([]));
    const md = readFileSync(new URL('../../docs/io.md', import.meta.url), 'utf8');
    const blocks = [...md.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as unknown);
    expect(blocks.length).toBe(2);
    for (const b of blocks) expect(examples).toContainEqual(b);
  });

  it('a serial transport is accepted when serialport is installed, and a binding never started closes cleanly', async () => {
    const b = createBinding({ ...good, transport: { type: 'rtu', path: '/dev/ttyUSB0' } }) as ModbusBinding;
    expect(b.name).toBe('modbus rtu /dev/ttyUSB0 19200 8E1 unit 1');
    await b.close();
    expect(b.stats.connected).toBe(false);
  });
});
