// The sysfs binding on a temporary directory tree laid out as the kernel lays
// out /sys: hwmon and IIO devices (found by their `name`), a PWM controller
// and the GPIO class, whose `export` files a small stand-in for the kernel
// answers by creating the channel's files. Reads are checked with their
// scaling, failures as null samples (counted, reported once), the PWM duty
// and the GPIO trip levels as written, and every configuration error by the
// field it names.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as wait } from 'node:timers/promises';
import { SysfsBinding, dutyCycleNs, parseSysfsNumber } from '../../host/io/sysfs.js';
import { BindingConfigError, bindingConfigIssues, createBinding, parseBindingConfig, type SysfsConfigInput } from '../../host/io/config.js';

let root = '';

function put(path: string, text: string): void {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
}
const get = (path: string) => readFileSync(join(root, path), 'utf8');

/** What the kernel does on a write to `export`: the channel's directory and files appear. */
function kernelExports(): void {
  const pwmExport = join(root, 'sys/class/pwm/pwmchip0/export');
  const ch = readFileSync(pwmExport, 'utf8').trim();
  if (ch !== '' && !existsSync(join(root, `sys/class/pwm/pwmchip0/pwm${ch}`))) {
    for (const [f, v] of [['period', '0'], ['duty_cycle', '0'], ['enable', '0'], ['polarity', 'normal']]) put(`sys/class/pwm/pwmchip0/pwm${ch}/${f}`, v);
  }
  const line = readFileSync(join(root, 'sys/class/gpio/export'), 'utf8').trim();
  if (line !== '' && !existsSync(join(root, `sys/class/gpio/gpio${line}`))) {
    put(`sys/class/gpio/gpio${line}/direction`, 'in');
    put(`sys/class/gpio/gpio${line}/value`, '0');
  }
}

/** start(), with the kernel stand-in answering exports until it settles. */
async function start(b: SysfsBinding): Promise<void> {
  let done = false;
  const p = b.start().finally(() => { done = true; });
  p.catch(() => {});
  for (let i = 0; i < 1000 && !done; i++) {
    kernelExports();
    await wait(2);
  }
  await p;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'edgeloop-sysfs-'));
  put('sys/class/hwmon/hwmon0/name', 'coretemp\n');
  put('sys/class/hwmon/hwmon0/temp1_input', '45000\n');
  put('sys/class/hwmon/hwmon1/name', 'lm75\n');
  put('sys/class/hwmon/hwmon1/temp1_input', '61250\n');
  put('sys/bus/iio/devices/iio:device0/name', 'ads1015\n');
  put('sys/bus/iio/devices/iio:device0/in_voltage0_raw', '1234\n');
  put('sys/bus/iio/devices/iio:device0/in_voltage_scale', '0.500000\n');
  put('sys/bus/iio/devices/iio:device0/in_voltage0_offset', '6\n');
  put('sys/class/pwm/pwmchip0/export', '');
  put('sys/class/pwm/pwmchip0/npwm', '2\n');
  put('sys/class/gpio/export', '');
  put('run/flow', '12.5\n');
  put('run/heater_power', '475\n');
});

const open: SysfsBinding[] = [];
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
  rmSync(root, { recursive: true, force: true });
});

function config(over: Partial<SysfsConfigInput> = {}): SysfsConfigInput {
  return {
    kind: 'sysfs',
    root,
    sensors: [{ source: 'hwmon', device: 'lm75', attribute: 'temp1_input' }],
    actuator: { chip: 0, channel: 1, periodNs: 1_000_000, min: 0, max: 100 },
    trip: { type: 'gpio', line: 17 },
    exportWaitMs: 2000,
    ...over,
  };
}

function binding(over: Partial<SysfsConfigInput> = {}, reports?: string[]): SysfsBinding {
  const b = createBinding(config(over), { onError: (m) => reports?.push(m) }) as SysfsBinding;
  open.push(b);
  return b;
}

describe('sensors', () => {
  it('hwmon and IIO devices found by name, a plain file, each scaled to counts; feedback and reference in units', async () => {
    const b = binding({
      sensors: [
        { source: 'hwmon', device: 'lm75', attribute: 'temp1_input' },                         // millidegrees as counts
        { source: 'iio', device: 'ads1015', attribute: 'in_voltage0_raw', iioScale: true, scale: 10 }, // (raw + 6) * 0.5 mV, in 0.1 mV
        { source: 'file', path: '/run/flow', scale: 4, offset: 1 },
      ],
      feedback: { path: '/run/heater_power', scale: 0.1 },
      reference: { path: '/run/flow', scale: 2, offset: -5 },
    });
    await start(b);
    expect(b.files.sensors).toEqual([
      join(root, 'sys/class/hwmon/hwmon1/temp1_input'),
      join(root, 'sys/bus/iio/devices/iio:device0/in_voltage0_raw'),
      join(root, 'run/flow'),
    ]);
    expect(b.read(0)).toEqual({ sensors: [61250, (1234 + 6) * 0.5 * 10, 12.5 * 4 + 1], feedback: 47.5, reference: 20 });

    // Every tick reads the files anew.
    put('sys/class/hwmon/hwmon1/temp1_input', '-1500\n');
    put('sys/bus/iio/devices/iio:device0/in_voltage0_raw', '0\n');
    expect(b.read(1).sensors).toEqual([-1500, 30, 51]);
    expect(b.stats.readsFailed).toBe(0);
  });

  it('an unreadable or garbage file is a null sample, counted and reported once; a read that works again clears it', async () => {
    const reports: string[] = [];
    const b = binding({
      sensors: [{ source: 'hwmon', path: '/sys/class/hwmon/hwmon0/temp1_input' }, { source: 'hwmon', device: 'lm75', attribute: 'temp1_input' }],
      feedback: { path: '/run/heater_power' },
    }, reports);
    await start(b);
    expect(b.read(0).sensors).toEqual([45000, 61250]);

    // t1: sensor 0's file holds garbage, sensor 1's disappears (a sensor unplugged), the feedback is empty.
    put('sys/class/hwmon/hwmon0/temp1_input', 'N/A\n');
    rmSync(join(root, 'sys/class/hwmon/hwmon1/temp1_input'));
    put('run/heater_power', '');
    for (let t = 1; t <= 3; t++) {
      expect(b.read(t)).toEqual({ sensors: [null, null], feedback: null, reference: null });
    }
    expect(b.stats.readsFailed).toBe(9);
    expect(reports).toHaveLength(3);
    expect(reports.find((m) => m.startsWith('sysfs: sensors[0]:'))).toMatch(/temp1_input does not hold a decimal number/);
    expect(reports.find((m) => m.startsWith('sysfs: sensors[1]:'))).toMatch(/cannot read .*hwmon1\/temp1_input \(ENOENT\)/);

    // The contrapositive: the files are good again, the samples come back, nothing more is reported...
    put('sys/class/hwmon/hwmon0/temp1_input', '46000\n');
    put('sys/class/hwmon/hwmon1/temp1_input', '62000\n');
    put('run/heater_power', '3\n');
    expect(b.read(4)).toMatchObject({ sensors: [46000, 62000], feedback: 3 });
    expect(reports).toHaveLength(3);
    // ...until a new failure, which is reported again.
    put('sys/class/hwmon/hwmon0/temp1_input', 'xx');
    expect(b.read(5).sensors).toEqual([null, 62000]);
    expect(reports).toHaveLength(4);
  });

  it('a reading beyond the counts of the core (i32) is dropped and counted', async () => {
    const b = binding({ sensors: [{ source: 'hwmon', device: 'lm75', attribute: 'temp1_input' }, { source: 'file', path: '/run/flow', scale: 1e9 }] });
    await start(b);
    expect(b.read(0).sensors).toEqual([61250, null]);
    expect(b.stats.rangeErrors).toBe(2);   // the read in start() and this one
  });

  it('a start that fails after setting up the outputs leaves them safe: the trip line tripped, the PWM channel disabled', async () => {
    put('sys/class/gpio/gpio17/direction', 'out');
    put('sys/class/gpio/gpio17/value', '1');     // left at run by a process that was killed
    put('run/flow', 'garbage\n');
    await expect(start(binding({ sensors: [{ source: 'file', path: '/run/flow' }] }))).rejects.toThrow(/no sensor could be read at start/);
    expect(get('sys/class/gpio/gpio17/value')).toBe('0');
    expect(get('sys/class/pwm/pwmchip0/pwm1/enable')).toBe('0');
  });

  it('start() refuses when no sensor reads, saying why', async () => {
    put('run/flow', 'ERR\n');
    await expect(start(binding({ sensors: [{ source: 'file', path: '/run/flow' }] })))
      .rejects.toThrow(/^sysfs: no sensor could be read at start: sensors\[0\]: .*run\/flow does not hold a decimal number$/);
  });

  it('parses what the kernel prints, and nothing else', () => {
    expect(['45000\n', '-12', '0.500000\n', ' 3 ', '1e3'].map(parseSysfsNumber)).toEqual([45000, -12, 0.5, 3, 1000]);
    expect(['', 'N/A', '12abc', '0x10', 'Infinity', '--1'].map(parseSysfsNumber)).toEqual([null, null, null, null, null, null]);
  });
});

describe('the PWM actuator', () => {
  it('is exported and set up (period, duty of min, enabled), and its duty follows the command over [min, max]', async () => {
    const reports: string[] = [];
    const b = binding({ actuator: { chip: 0, channel: 1, periodNs: 1_000_000, min: 0, max: 100 } }, reports);
    await start(b);
    const pwm = 'sys/class/pwm/pwmchip0/pwm1';
    expect(get('sys/class/pwm/pwmchip0/export')).toBe('1');
    expect([get(`${pwm}/period`), get(`${pwm}/duty_cycle`), get(`${pwm}/enable`)]).toEqual(['1000000', '0', '1']);

    b.write(25, 0);
    expect(get(`${pwm}/duty_cycle`)).toBe('250000');
    const writes = b.stats.writes;
    b.write(25, 1);                     // unchanged: not written again
    expect(b.stats.writes).toBe(writes);
    b.write(150, 2);                    // beyond max: held to it, counted, reported
    expect(get(`${pwm}/duty_cycle`)).toBe('1000000');
    b.write(Number.NaN, 3);             // not a number: not written
    expect(get(`${pwm}/duty_cycle`)).toBe('1000000');
    expect(b.stats.rangeErrors).toBe(2);
    expect(reports.filter((m) => m.includes('actuator value'))).toHaveLength(2);
  });

  it('maps an offset range and an inverting stage', async () => {
    const b = binding({ actuator: { chip: 0, channel: 0, periodNs: 20_000, min: -50, max: 50, inverted: true } });
    await start(b);
    b.write(0, 0);
    expect(get('sys/class/pwm/pwmchip0/pwm0/duty_cycle')).toBe('10000');
    b.write(25, 1);                     // 75 % on, inverted: 25 % duty
    expect(get('sys/class/pwm/pwmchip0/pwm0/duty_cycle')).toBe('5000');
    expect(dutyCycleNs(-50, { min: -50, max: 50, periodNs: 20_000, inverted: true })).toBe(20_000);
  });

  it('a write that fails is counted, reported once, tried again each tick, and lands when the file is back', async () => {
    const reports: string[] = [];
    const b = binding({}, reports);
    await start(b);
    const duty = join(root, 'sys/class/pwm/pwmchip0/pwm1/duty_cycle');
    rmSync(duty);
    mkdirSync(duty);                    // a write now fails (EISDIR), whoever runs the test
    expect(() => { b.write(40, 0); b.write(40, 1); }).not.toThrow();
    expect(b.stats.writesFailed).toBe(2);
    expect(reports).toEqual([expect.stringMatching(/^sysfs: actuator: cannot write .*duty_cycle \(EISDIR\)$/)]);
    rmSync(duty, { recursive: true });
    writeFileSync(duty, '0');
    b.write(40, 2);
    expect(readFileSync(duty, 'utf8')).toBe('400000');
  });
});

describe('the GPIO trip', () => {
  it('is exported and made an output at the tripped level; run permitted drives it high; close() trips it', async () => {
    const b = binding();
    await start(b);
    const gpio = 'sys/class/gpio/gpio17';
    expect(get('sys/class/gpio/export')).toBe('17');
    expect(get(`${gpio}/direction`)).toBe('low');   // output, at the tripped (de-energized) level, in one step
    b.writeTrip(false, 0);
    expect(get(`${gpio}/value`)).toBe('1');
    b.writeTrip(true, 1);
    expect(get(`${gpio}/value`)).toBe('0');
    b.writeTrip(false, 2);
    await b.close();
    expect(get(`${gpio}/value`)).toBe('0');
  });

  it('active-low: run permitted drives the line low, tripped high', async () => {
    const b = binding({ trip: { type: 'gpio', line: 5, activeLow: true } });
    await start(b);
    expect(get('sys/class/gpio/gpio5/direction')).toBe('high');
    b.writeTrip(false, 0);
    expect(get('sys/class/gpio/gpio5/value')).toBe('0');
    b.writeTrip(true, 1);
    expect(get('sys/class/gpio/gpio5/value')).toBe('1');
  });

  it('a line already an output at run (a restart after a kill) is tripped at start until the loop permits run; with tripOnClose false close() leaves it', async () => {
    put('sys/class/gpio/gpio17/direction', 'out');
    put('sys/class/gpio/gpio17/value', '1');
    const b = binding({ tripOnClose: false });
    await start(b);
    expect(get('sys/class/gpio/gpio17/direction')).toBe('out');
    expect(get('sys/class/gpio/gpio17/value')).toBe('0');
    expect(get('sys/class/gpio/export')).toBe('');   // already there: not exported again
    b.writeTrip(false, 0);
    await b.close();
    expect(get('sys/class/gpio/gpio17/value')).toBe('1');
  });

  it('a plain file with its own values; a failed write is tried again on the next tick', async () => {
    put('run/relay', 'off');
    const b = binding({ trip: { type: 'file', path: '/run/relay', trippedValue: 'off', runValue: 'on' } });
    await start(b);
    b.writeTrip(false, 0);
    expect(get('run/relay')).toBe('on');
    rmSync(join(root, 'run/relay'));
    mkdirSync(join(root, 'run/relay'));
    b.writeTrip(true, 1);
    expect(b.stats.writesFailed).toBe(1);
    rmSync(join(root, 'run/relay'), { recursive: true });
    writeFileSync(join(root, 'run/relay'), 'on');
    b.writeTrip(true, 2);
    expect(get('run/relay')).toBe('off');
  });
});

describe('start() and configuration errors name the field', () => {
  it.each([
    [{ sensors: [{ source: 'hwmon', device: 'tmp102', attribute: 'temp1_input' }] },
      /^binding\.sensors\[0\]\.device: no hwmon device named 'tmp102' under .*sys\/class\/hwmon \(found: coretemp, lm75\)$/],
    [{ sensors: [{ source: 'hwmon', path: '/sys/class/hwmon/hwmon7/temp1_input' }] }, /^binding\.sensors\[0\]\.path: .*hwmon7\/temp1_input does not exist$/],
    [{ sensors: [{ source: 'iio', device: 'ads1015', attribute: 'in_current0_raw', iioScale: true }] }, /^binding\.sensors\[0\]\.attribute: .*in_current0_raw does not exist$/],
    [{ actuator: { chip: 3, channel: 0 } }, /^binding\.actuator\.chip: .*pwmchip3 does not exist/],
    [{ feedback: { path: '/run/nothing' } }, /^binding\.feedback\.path: .*run\/nothing does not exist$/],
    [{ trip: { type: 'file', path: '/run/nothing' } }, /^binding\.trip\.path: .*run\/nothing does not exist$/],
  ] as [Partial<SysfsConfigInput>, RegExp][])('%j', async (over, expected) => {
    await expect(start(binding(over))).rejects.toThrow(expected);
  });

  it('an IIO channel without a scale file, when iioScale asks for one', async () => {
    rmSync(join(root, 'sys/bus/iio/devices/iio:device0/in_voltage_scale'));
    await expect(start(binding({ sensors: [{ source: 'iio', device: 'ads1015', attribute: 'in_voltage0_raw', iioScale: true }] })))
      .rejects.toThrow(/^binding\.sensors\[0\]\.iioScale: neither in_voltage0_scale nor in_voltage_scale exists in /);
  });

  it('an export the kernel never answers', async () => {
    const b = binding({ exportWaitMs: 30 });
    // No kernel stand-in: the channel never appears.
    await expect(b.start()).rejects.toThrow(/^binding\.actuator\.channel: exported, but .*pwm1\/enable did not appear within 30 ms \(exportWaitMs\)$/);
  });

  it('defaults', () => {
    const c = parseBindingConfig({ kind: 'sysfs', sensors: [{ source: 'hwmon', path: '/sys/class/hwmon/hwmon0/temp1_input' }], actuator: { chip: 0, channel: 0 }, trip: { type: 'gpio', line: 3 } });
    expect(c).toMatchObject({ root: '/', tripOnClose: true, actuator: { periodNs: 1_000_000, min: 0, max: 100, inverted: false, disableOnClose: false },
      trip: { activeLow: false }, sensors: [{ scale: 1, offset: 0, iioScale: false }] });
  });

  it.each([
    [{ sensors: [{ source: 'hwmon', path: '/a', device: 'lm75', attribute: 'temp1_input' }] }, /^binding\.sensors\[0\]\.path: expected either path, or device and attribute/],
    [{ sensors: [{ source: 'hwmon', device: 'lm75' }] }, /^binding\.sensors\[0\]\.path: expected either path, or device and attribute/],
    [{ sensors: [{ source: 'hwmon', path: '/a', iioScale: true }] }, /^binding\.sensors\[0\]\.iioScale: iioScale applies to IIO sensors only/],
    [{ sensors: [{ source: 'thermocouple', path: '/a' }] }, /^binding\.sensors\[0\]\.source: expected 'hwmon', 'iio' or 'file' \(received "thermocouple"\)/],
    [{ actuator: { chip: 0, channel: 0, min: 10, max: 10 } }, /^binding\.actuator\.max: expected max greater than min/],
    [{ actuator: { chip: 0, channel: 0, periodNs: 0 } }, /^binding\.actuator\.periodNs: expected the PWM period in ns, an integer 1\.\.1000000000 \(received 0\)/],
    [{ trip: { type: 'gpio', line: -1 } }, /^binding\.trip\.line: expected the GPIO number .*0\.\.65535 \(received -1\)/],
    [{ trip: { type: 'gpio', line: 3, activelow: true } }, /^binding\.trip: unknown field 'activelow'/],
    [{ trip: { type: 'relay', line: 3 } }, /^binding\.trip(\.type)?: expected a trip/],
  ] as [Record<string, unknown>, RegExp][])('%j is refused', (over, expected) => {
    const issues = bindingConfigIssues({ ...config(), ...over });
    expect(issues.some((m) => expected.test(m)), issues.join('\n')).toBe(true);
    expect(() => createBinding({ ...config(), ...over })).toThrow(BindingConfigError);
  });
});
