// The configuration of a real I/O binding, as a gateway's engineer writes it
// (JSON or YAML, no code): `{ kind: 'modbus', ... }` or `{ kind: 'sysfs', ... }`.
// Every field is checked before anything connects: an error names the field
// by its path, says what was expected and quotes what was received
// (host/schema-issues.ts), and an unknown field is an error too, because a
// misspelt optional field would otherwise fall back to its default without
// a word. docs/io.md is the reference for each field.
//
// BindingConfigSchema is meant to be embedded as the `binding` section of an
// agent's configuration file; createBinding() turns a configuration into a
// binding that is not yet started. The simulated plant (kind 'sim') is
// configured elsewhere: it is not a driver.

import { z } from 'zod';
import { SchemaError, schemaIssues, type SchemaIssue } from '../schema-issues.js';
import { DATA_TYPE_WORDS, MODBUS_DATA_TYPES, ModbusBinding, type ModbusBindingOptions, type ModbusDataType } from './modbus.js';
import { SysfsBinding, type SysfsBindingOptions } from './sysfs.js';

/** `expected <what>, an integer min..max`, whatever was wrong with the value. */
function int(what: string, min: number, max: number) {
  const error = `expected ${what}, an integer ${min}..${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const num = (what: string) => z.number({ error: `expected ${what}, a finite number` });

/** A strict object whose unknown fields are named, with the fields it does know. */
function strict<T extends z.ZodRawShape>(what: string, shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `'${k}'`).join(', ')} in ${what} (expected some of: ${known})`;
      if (iss.code === 'invalid_type') return `expected ${what}: an object with ${known}`;
      return undefined;
    },
  });
}

const scale = num('a scale factor (value = raw * scale + offset)').refine((v) => v !== 0, { error: 'expected a scale factor other than 0' }).default(1);
const offset = num('an offset (value = raw * scale + offset)').default(0);
const address = int('a register address (zero-based: holding register 40001 is address 0)', 0, 65535);
const byteOrder = z.enum(['big', 'little'], { error: "expected 'big' (high byte first, as the Modbus standard sends) or 'little' (bytes swapped in each register)" }).default('big');
const wordOrder = z.enum(['big', 'little'], { error: "expected 'big' (high word first, ABCD) or 'little' (low word first, CDAB)" }).default('big');

const dataType = z.enum(MODBUS_DATA_TYPES, { error: `expected one of ${MODBUS_DATA_TYPES.join(', ')}` }).default('int16');

/** A value that spans two registers must not run past the last address. */
const fitsAddressSpace = (p: { address: number; dataType: ModbusDataType }) => p.address + DATA_TYPE_WORDS[p.dataType] - 1 <= 65535;

/** A point the binding reads: a sensor, the actuator's feedback, a reference. */
export const ModbusReadPointSchema = strict('a Modbus point', {
  kind: z.enum(['holding', 'input', 'coil', 'discrete'], { error: "expected 'holding', 'input' (registers), 'coil' or 'discrete' (bits)" }).default('holding'),
  address,
  dataType,
  wordOrder,
  byteOrder,
  scale,
  offset,
}).refine((p) => !(p.kind === 'coil' || p.kind === 'discrete') || DATA_TYPE_WORDS[p.dataType] === 1, {
  error: 'a coil or discrete input is one bit (read as 0 or 1): a 32-bit dataType applies to registers only', path: ['dataType'],
}).refine(fitsAddressSpace, { error: 'a 32-bit value at this address would run past register 65535', path: ['address'] });

/** The actuator command: written to holding registers (value -> raw = (value - offset) / scale). */
export const ModbusCommandPointSchema = strict('the command point', {
  kind: z.literal('holding', { error: "expected 'holding': the command is written to holding registers" }).default('holding'),
  address,
  dataType,
  wordOrder,
  byteOrder,
  scale,
  offset,
}).refine(fitsAddressSpace, { error: 'a 32-bit value at this address would run past register 65535', path: ['address'] });

/** The trip output: a coil (de-energize to trip: off = tripped) or a holding register. */
export const ModbusTripPointSchema = strict('the trip point', {
  kind: z.enum(['coil', 'holding'], { error: "expected 'coil' or 'holding' (the trip is written)" }).default('coil'),
  address,
  trippedValue: int('the value written to trip (coil: 0 = off)', 0, 65535).default(0),
  runValue: int('the value written while run is permitted (coil: 1 = on)', 0, 65535).default(1),
}).refine((t) => t.trippedValue !== t.runValue, { error: 'expected trippedValue and runValue to differ', path: ['runValue'] })
  .refine((t) => t.kind !== 'coil' || (t.trippedValue <= 1 && t.runValue <= 1), { error: 'a coil is 0 or 1', path: ['trippedValue'] });

const host = z.string({ error: 'expected a host name or IP address' }).min(1, { error: 'expected a host name or IP address' });
const port = (fallback?: number) => {
  const p = int('a TCP port', 1, 65535);
  return fallback === undefined ? p : p.default(fallback);
};
// Modbus TCP lets the unit id address the device itself (often 1, 0 or 255); on a serial line
// 0 is the broadcast, which no device answers, and 248..255 are reserved.
const serialUnit = int('a unit id (slave address) on the line', 1, 247).default(1);

export const ModbusTransportSchema = z.discriminatedUnion('type', [
  strict('a Modbus TCP transport', { type: z.literal('tcp'), host, port: port(502), unitId: int('a unit id', 0, 255).default(1) }),
  strict('a Modbus RTU-over-TCP transport', { type: z.literal('rtu-over-tcp'), host, port: port(), unitId: serialUnit }),
  strict('a Modbus RTU transport', {
    type: z.literal('rtu'),
    path: z.string({ error: 'expected the serial device, e.g. /dev/ttyUSB0' }).min(1, { error: 'expected the serial device, e.g. /dev/ttyUSB0' }),
    baudRate: int('a baud rate', 300, 4_000_000).default(19200),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space'], { error: "expected 'none', 'even', 'odd', 'mark' or 'space'" }).default('even'),
    dataBits: z.union([z.literal(7), z.literal(8)], { error: 'expected 7 or 8 data bits' }).default(8),
    stopBits: z.union([z.literal(1), z.literal(2)], { error: 'expected 1 or 2 stop bits' }).default(1),
    unitId: serialUnit,
  }),
], { error: "expected a transport: { type: 'tcp', host, port? }, { type: 'rtu-over-tcp', host, port } or { type: 'rtu', path, baudRate?, parity? }" });

export const ModbusConfigSchema = strict('a Modbus binding', {
  kind: z.literal('modbus'),
  transport: ModbusTransportSchema,
  sensors: z.array(ModbusReadPointSchema, { error: 'expected a list of 1 to 3 sensor points' })
    .min(1, { error: 'expected 1 to 3 sensor points' }).max(3, { error: 'expected 1 to 3 sensor points (the core takes at most 3)' }),
  command: ModbusCommandPointSchema,
  feedback: ModbusReadPointSchema.optional(),
  reference: ModbusReadPointSchema.optional(),
  trip: ModbusTripPointSchema,
  pollMs: int('a poll period in ms', 5, 60_000).default(50),
  staleMs: int('the age in ms after which a sample is not used', 10, 600_000).default(500),
  timeoutMs: int('a request timeout in ms', 10, 60_000).default(250),
  retries: int('the retries of a failed request', 0, 10).default(1),
  refreshMs: int('the period in ms at which unchanged outputs are written again', 50, 600_000).default(1000),
  connectTimeoutMs: int('a connect timeout in ms', 100, 60_000).default(3000),
  reconnectMinMs: int('the first reconnect delay in ms', 10, 60_000).default(250),
  reconnectMaxMs: int('the longest reconnect delay in ms', 10, 600_000).default(5000),
  failuresToReconnect: int('the failed requests in a row after which a TCP connection is reopened', 1, 100).default(3),
  startTimeoutMs: int('how long start() waits for the first sample, ms', 100, 600_000).default(10_000),
  multiWrite: z.boolean({ error: 'expected true (always FC15/FC16) or false (FC5/FC6 for one coil or register)' }).default(false),
  tripOnClose: z.boolean({ error: 'expected true (close() writes the trip) or false' }).default(true),
}).refine((c) => c.staleMs > c.pollMs, { error: 'expected staleMs greater than pollMs (otherwise every sample is stale)', path: ['staleMs'] })
  .refine((c) => c.reconnectMaxMs >= c.reconnectMinMs, { error: 'expected reconnectMaxMs >= reconnectMinMs', path: ['reconnectMaxMs'] });

const sysPath = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });

/** A number in a sysfs file, converted to the counts (or units) the loop takes. */
export const SysfsSensorSchema = strict('a sysfs sensor', {
  source: z.enum(['hwmon', 'iio', 'file'], { error: "expected 'hwmon', 'iio' or 'file'" }),
  path: sysPath('the file, e.g. /sys/class/hwmon/hwmon0/temp1_input').optional(),
  device: sysPath("the device's name (its `name` file), e.g. lm75").optional(),
  attribute: sysPath('the file in the device, e.g. temp1_input or in_voltage0_raw').optional(),
  iioScale: z.boolean({ error: 'expected true (apply the IIO scale and offset files) or false (raw counts)' }).default(false),
  scale,
  offset,
}).refine((s) => (s.path !== undefined) !== (s.device !== undefined && s.attribute !== undefined), {
  error: 'expected either path, or device and attribute (the device found by its name at start)', path: ['path'],
}).refine((s) => s.source !== 'file' || s.device === undefined, { error: "a 'file' sensor is given by its path", path: ['device'] })
  .refine((s) => s.source === 'iio' || !s.iioScale, { error: 'iioScale applies to IIO sensors only', path: ['iioScale'] });

/** A number in a file, in engineering units (value = number * scale + offset). */
export const SysfsValueSchema = strict('a sysfs value', { path: sysPath('the file to read'), scale, offset });

export const SysfsPwmSchema = strict('a PWM actuator', {
  chip: int('the PWM controller (pwmchipN)', 0, 1023),
  channel: int('the channel (pwmM)', 0, 1023),
  periodNs: int('the PWM period in ns', 1, 1_000_000_000).default(1_000_000),
  min: num("the command that gives 0 % duty (the actuator's units)").default(0),
  max: num("the command that gives 100 % duty (the actuator's units)").default(100),
  inverted: z.boolean({ error: 'expected true (duty = period - on time, for an inverting stage) or false' }).default(false),
  disableOnClose: z.boolean({ error: 'expected true (close() disables the channel) or false' }).default(false),
}).refine((a) => a.max > a.min, { error: 'expected max greater than min', path: ['max'] });

export const SysfsTripSchema = z.discriminatedUnion('type', [
  strict('a GPIO trip', {
    type: z.literal('gpio'),
    line: int('the GPIO number (sysfs numbering: the chip base plus the offset)', 0, 65535),
    activeLow: z.boolean({ error: 'expected true (the line is driven low to permit run) or false' }).default(false),
  }),
  strict('a file trip', {
    type: z.literal('file'),
    path: sysPath('the file written to trip and to permit run'),
    trippedValue: z.string({ error: 'expected the text written to trip' }).default('0'),
    runValue: z.string({ error: 'expected the text written while run is permitted' }).default('1'),
  }).refine((t) => t.trippedValue !== t.runValue, { error: 'expected trippedValue and runValue to differ', path: ['runValue'] }),
], { error: "expected a trip: { type: 'gpio', line, activeLow? } or { type: 'file', path, trippedValue?, runValue? }" });

export const SysfsConfigSchema = strict('a sysfs binding', {
  kind: z.literal('sysfs'),
  root: sysPath('the directory the /sys paths are under (default /)').default('/'),
  sensors: z.array(SysfsSensorSchema, { error: 'expected a list of 1 to 3 sensors' })
    .min(1, { error: 'expected 1 to 3 sensors' }).max(3, { error: 'expected 1 to 3 sensors (the core takes at most 3)' }),
  actuator: SysfsPwmSchema,
  feedback: SysfsValueSchema.optional(),
  reference: SysfsValueSchema.optional(),
  trip: SysfsTripSchema,
  exportWaitMs: int('how long start() waits for an exported PWM or GPIO to appear, ms', 10, 60_000).default(2000),
  tripOnClose: z.boolean({ error: 'expected true (close() writes the trip) or false' }).default(true),
});

export const BindingConfigSchema = z.discriminatedUnion('kind', [ModbusConfigSchema, SysfsConfigSchema], {
  error: (iss) => (iss.code === 'invalid_union' || iss.code === 'invalid_type'
    ? "expected a binding: { kind: 'modbus', ... } or { kind: 'sysfs', ... } (docs/io.md)" : undefined),
});

export type ModbusReadPoint = z.output<typeof ModbusReadPointSchema>;
export type ModbusCommandPoint = z.output<typeof ModbusCommandPointSchema>;
export type ModbusTripPoint = z.output<typeof ModbusTripPointSchema>;
export type ModbusTransport = z.output<typeof ModbusTransportSchema>;
export type ModbusConfig = z.output<typeof ModbusConfigSchema>;
export type ModbusConfigInput = z.input<typeof ModbusConfigSchema>;
export type SysfsSensor = z.output<typeof SysfsSensorSchema>;
export type SysfsConfig = z.output<typeof SysfsConfigSchema>;
export type SysfsConfigInput = z.input<typeof SysfsConfigSchema>;
export type BindingConfig = z.output<typeof BindingConfigSchema>;
export type BindingConfigInput = z.input<typeof BindingConfigSchema>;

/** A configuration that failed its schema: every issue, each naming its field (binding.<path>). */
export class BindingConfigError extends SchemaError {
  constructor(source: string, issues: readonly SchemaIssue[]) {
    super(source, 'I/O binding configuration', issues);
    this.name = 'BindingConfigError';
  }
}

/** The issues of `value` as a binding configuration, each path under `prefix` (the section's name in a larger file). */
function issuesOf(value: unknown, prefix: string): SchemaIssue[] {
  const r = BindingConfigSchema.safeParse(value);
  if (r.success) return [];
  return schemaIssues(r.error, value).map((i) => ({ ...i, path: i.path === '(root)' ? prefix : `${prefix}${i.path.startsWith('[') ? '' : '.'}${i.path}` }));
}

/**
 * What is wrong with `value` as a binding configuration, one readable line
 * per problem (empty when it is valid), e.g.
 * `binding.sensors[0].address: expected a register address (...), an integer 0..65535 (received -1)`.
 */
export function bindingConfigIssues(value: unknown, prefix = 'binding'): string[] {
  return issuesOf(value, prefix).map((i) => `${i.path}: ${i.message}${i.received !== undefined ? ` (received ${JSON.stringify(i.received)})` : ''}`);
}

/** `value` checked as a binding configuration, defaults filled in; throws BindingConfigError naming every bad field. */
export function parseBindingConfig(value: unknown, source = 'binding', prefix = 'binding'): BindingConfig {
  const r = BindingConfigSchema.safeParse(value);
  if (r.success) return r.data;
  throw new BindingConfigError(source, issuesOf(value, prefix));
}

/** The JSON Schema of a binding configuration (for editors and documentation). */
export function bindingJsonSchema(): unknown {
  return z.toJSONSchema(BindingConfigSchema, { io: 'input' });
}

/** What createBinding() returns: an IoBinding with a lifecycle (start() before the first tick, close() after the last). */
export type ConfiguredBinding = ModbusBinding | SysfsBinding;

export type BindingOptions = ModbusBindingOptions & SysfsBindingOptions;

/**
 * The binding a configuration describes, checked first (BindingConfigError
 * naming every bad field) and not yet started: call start() (connects, or
 * prepares the files, and waits for a first sample), then hand it to an
 * agent; close() writes the trip (tripOnClose) and lets go.
 */
export function createBinding(config: unknown, opts: BindingOptions = {}): ConfiguredBinding {
  const c = parseBindingConfig(config);
  switch (c.kind) {
    case 'modbus': return new ModbusBinding(c, opts);
    case 'sysfs': return new SysfsBinding(c, opts);
  }
}
