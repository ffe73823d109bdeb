#!/usr/bin/env node
// npm run firmware: the same build/core.wasm as Cortex-M firmware and as a
// native program, through wasm2c.
//
//   node scripts/firmware.mjs [--target native|m3|m4 ...] [--bench N] [--quiet]
//
// 1. wasm2c build/core.wasm -> build/wasm2c/core.{c,h} (+ wasm-rt.h)
// 2. the core's memory layout -> build/wasm2c/core_layout.h: the highest
//    address the core touches (its data segments and its zero-filled
//    memory.data regions, which the optimizer strips from the binary; see
//    coreLayout below), its wasm call depth, checks that it never grows
//    memory
// 3. parameter ids and configuration tables -> edgeloop_params.h, configs.h
//    (from host/runtime/abi.ts and firmware-sim, via dist/: run `npm run
//    build` first)
// 4. native: build/native/edgeloop-native (gcc -O2, wabt's hosted runtime,
//    guard pages) and edgeloop-native-boundscheck (software bounds checks)
// 5. m3/m4: build/firmware/edgeloop-m3.elf, edgeloop-m4.elf (the PIL
//    firmware for QEMU mps2-an385/an386), example-m3/m4.elf (example_main.c)
//    and libedgeloop-cortex-m3/m4.a; prints arm-none-eabi-size and the RAM
//    the core uses.
//
// Exit codes: 0 ok, 1 build failed, 2 a tool is missing, 64 usage.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PIL = join(ROOT, 'firmware-sim', 'pil');
const CORE_WASM = join(ROOT, 'build', 'core.wasm');
const GEN = join(ROOT, 'build', 'wasm2c');
const NATIVE_OUT = join(ROOT, 'build', 'native');
const FW_OUT = join(ROOT, 'build', 'firmware');

export const MCU_TARGETS = {
  m3: { cpu: 'cortex-m3', machine: 'mps2-an385', ld: 'mps2-an385.ld' },
  m4: { cpu: 'cortex-m4', machine: 'mps2-an386', ld: 'mps2-an386.ld' },
};

/** Bump when what this script generates changes (forces regeneration). */
const GENERATOR = 'firmware.mjs/2';

class ToolMissing extends Error {}

// ---- small helpers ------------------------------------------------------------

let quiet = false;
const log = (...a) => { if (!quiet) console.log(...a); };
const rel = (p) => relative(ROOT, p) || '.';

function have(tool, args = ['--version']) {
  const r = spawnSync(tool, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/** Write only if the content changed, atomically (parallel builds read these files). */
function writeAtomic(path, content) {
  if (existsSync(path) && readFileSync(path).equals(Buffer.from(content))) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise({ out, err });
      else reject(new Error(`${cmd} ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}\nexit ${code}\n${err}${out}`));
    });
  });
}

/** Run async jobs with at most `limit` at once. */
async function pool(jobs, limit) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

// ---- the .wasm binary (WebAssembly Core 2.0, 5: Binary format) ------------------

function readSections(bytes) {
  if (bytes.readUInt32LE(0) !== 0x6d736100 || bytes.readUInt32LE(4) !== 1) throw new Error('not a wasm module (version 1)');
  const sections = [];
  let pos = 8;
  const u32 = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++];
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    sections.push({ id, start: pos, end: pos + size, body: bytes.subarray(pos, pos + size) });
    pos += size;
  }
  return sections;
}

/** A cursor over one section body. */
function cursor(body) {
  let pos = 0;
  const c = {
    get pos() { return pos; },
    byte: () => body[pos++],
    u32() {
      let result = 0;
      let shift = 0;
      for (;;) {
        const b = body[pos++];
        result += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) return result;
      }
    },
    s32() {
      let result = 0n;
      let shift = 0n;
      let b;
      do {
        b = body[pos++];
        result |= BigInt(b & 0x7f) << shift;
        shift += 7n;
      } while (b & 0x80);
      if (b & 0x40) result -= 1n << shift;
      return Number(BigInt.asIntN(32, result));
    },
    skip: (n) => { pos += n; },
  };
  return c;
}

/** Active data segments (memory 0, i32.const offset) of a module. */
function dataSegments(bytes) {
  const data = readSections(bytes).find((s) => s.id === 11);
  if (!data) return [];
  const c = cursor(data.body);
  const n = c.u32();
  const segs = [];
  for (let i = 0; i < n; i++) {
    const flags = c.u32();
    if (flags === 1) throw new Error('passive data segments are not supported by the static layout');
    if (flags === 2 && c.u32() !== 0) throw new Error('data segment for a memory other than 0');
    if (c.byte() !== 0x41) throw new Error('data segment offset is not an i32.const');
    const offset = c.s32();
    if (c.byte() !== 0x0b) throw new Error('data segment offset expression is not a single i32.const');
    const size = c.u32();
    segs.push({ offset, size, bytes: data.body.subarray(c.pos, c.pos + size) });
    c.skip(size);
  }
  return segs;
}

/** The module's own memory: { min, max } pages; and whether it imports anything. */
function memoryAndImports(bytes) {
  const secs = readSections(bytes);
  const imports = secs.find((s) => s.id === 2);
  const mem = secs.find((s) => s.id === 5);
  let limits = null;
  if (mem) {
    const c = cursor(mem.body);
    if (c.u32() !== 1) throw new Error('expected exactly one memory');
    const flags = c.byte();
    const min = c.u32();
    limits = { min, max: flags & 1 ? c.u32() : null };
  }
  return { limits, importCount: imports ? cursor(imports.body).u32() : 0 };
}

function sectionBytes(bytes, id) {
  return Buffer.concat(readSections(bytes).filter((s) => s.id === id).map((s) => s.body));
}

// ---- the core's memory layout ----------------------------------------------------

/*
 * The highest address the core touches. The core allocates nothing at run
 * time (stub runtime, no memory.grow): all its state is module globals and
 * static regions (memory.data) laid out by the AssemblyScript compiler from
 * 1024 upward. The regions with initial content are the data segments of
 * build/core.wasm; the zero-filled ones (the event ring, the configuration
 * tables, histories) are not in the binary at all: binaryen's memory packing
 * drops zero bytes, because a fresh memory is zero anyway. So the data
 * segments alone give only a lower bound (about 1.9 KB; the core uses about
 * 7.6 KB).
 *
 * The full layout comes from a second compile of the same sources with the
 * same options plus --importMemory: binaryen cannot assume an imported
 * memory is zeroed, so it keeps every region as a segment. Importing the
 * memory changes nothing else (memory imports do not renumber functions),
 * and that is checked: the probe's type, function, global, export and code
 * sections must equal build/core.wasm's byte for byte, and its data must
 * contain core.wasm's data at the same addresses. Then the end of the
 * probe's last segment is the end of the core's static memory, and every
 * address in the code refers to the same layout.
 */
async function coreLayout(wasm) {
  const { limits, importCount } = memoryAndImports(wasm);
  if (importCount !== 0) throw new Error('build/core.wasm imports something; the firmware runtime provides no imports');
  if (!limits) throw new Error('build/core.wasm has no memory of its own');
  const segs = dataSegments(wasm);
  const dataEnd = Math.max(0, ...segs.map((s) => s.offset + s.size));
  const dataStart = Math.min(...segs.map((s) => s.offset));

  let asc;
  try {
    asc = (await import('assemblyscript/asc')).default;
  } catch (e) {
    throw new ToolMissing(`the AssemblyScript compiler (npm ci) is needed for the layout probe: ${e.message}`);
  }
  const files = {};
  const { error, stderr } = await asc.main(
    // Same entry, asconfig.json and target as `npm run build:core` (asc reads asconfig.json from the cwd, ROOT).
    ['assembly/index.ts', '--target', 'release', '--importMemory', '--outFile', 'layout-probe.wasm', '--textFile', 'layout-probe.wat'],
    { writeFile: (name, contents) => { files[name.split(/[\\/]/).pop()] = contents; }, stdout: asc.createMemoryStream(), stderr: asc.createMemoryStream() },
  );
  if (error) throw new Error(`layout probe: asc failed: ${error.message}\n${stderr.toString()}`);
  const probe = Buffer.from(files['layout-probe.wasm']);
  for (const [id, name] of [[1, 'type'], [3, 'function'], [6, 'global'], [7, 'export'], [8, 'start'], [10, 'code']]) {
    if (!sectionBytes(probe, id).equals(sectionBytes(wasm, id))) {
      throw new Error(`layout probe: its ${name} section differs from build/core.wasm's: rebuild the core (npm run build:core) from these sources`);
    }
  }
  const probeSegs = dataSegments(probe);
  const image = new Uint8Array(65536 * limits.min);
  for (const s of probeSegs) image.set(s.bytes, s.offset);
  for (const s of segs) {
    if (!Buffer.from(image.subarray(s.offset, s.offset + s.size)).equals(Buffer.from(s.bytes))) {
      throw new Error(`layout probe: core.wasm's data at ${s.offset} (+${s.size}) is not in the probe's layout`);
    }
  }
  const staticEnd = Math.max(...probeSegs.map((s) => s.offset + s.size));
  const memBytes = Math.ceil(staticEnd / 8) * 8;
  if (memBytes > 65536 * limits.min) throw new Error(`static layout (${staticEnd} bytes) exceeds the declared memory`);
  return { limits, dataStart, dataEnd, staticEnd, memBytes, probeSegments: probeSegs.length, segments: segs.length };
}

/*
 * Route the memory accessors of the wasm2c output through two macros,
 * WASM_RT_MEM_SIZE(mem) and WASM_RT_MEM_DATA(mem), whose defaults are what
 * wasm2c wrote (mem->size, mem->data): the native build compiles the same
 * code as before. The MCU build forces mcu/wasm-rt-mcu-static.h, which
 * makes them the static buffer's constant size and address. Every replaced
 * text must occur exactly once, or the build stops: another wabt version
 * needs another look.
 */
function patchAccessors(c) {
  const edits = [
    ['if (UNLIKELY(offset + (uint64_t)len > mem->size))', 'if (UNLIKELY(offset + (uint64_t)len > WASM_RT_MEM_SIZE(mem)))'],
    ['wasm_rt_memcpy(&result, &mem->data[addr], sizeof(t1));', 'wasm_rt_memcpy(&result, &WASM_RT_MEM_DATA(mem)[addr], sizeof(t1));'],
    ['wasm_rt_memcpy(&mem->data[addr], &wrapped, sizeof(t1));', 'wasm_rt_memcpy(&WASM_RT_MEM_DATA(mem)[addr], &wrapped, sizeof(t1));'],
    ['#include "core.h"\n', '#include "core.h"\n\n/* scripts/firmware.mjs: memory accessors (mcu/wasm-rt-mcu-static.h) */\n' +
      '#ifndef WASM_RT_MEM_SIZE\n#define WASM_RT_MEM_SIZE(mem) ((mem)->size)\n#define WASM_RT_MEM_DATA(mem) ((mem)->data)\n#endif\n'],
  ];
  for (const [from, to] of edits) {
    const n = c.split(from).length - 1;
    if (n !== 1) throw new Error(`wasm2c output: expected '${from.trim()}' once, found it ${n} times (written for wabt 1.0.32)`);
    c = c.replace(from, to);
  }
  return c;
}

/** wasm2c output checks, and the deepest chain of wasm calls (for WASM_RT_MAX_CALL_STACK_DEPTH). */
function analyzeGenerated(c, h) {
  if (!h.includes('void Z_edgeloop_instantiate(Z_edgeloop_instance_t*);')) {
    throw new Error('wasm2c output does not use the wabt 1.0.32 names (Z_edgeloop_instantiate); edgeloop.c is written for them');
  }
  if (/wasm_rt_grow_memory\s*\(\s*&instance/.test(c)) throw new Error('the core grows its memory (memory.grow): a static memory cannot hold it');
  if (/w2c_memory\.pages/.test(c)) throw new Error('the core reads its memory size (memory.size): the static memory is smaller than declared');
  if (/\bCALL_INDIRECT\(\s*instance/.test(c)) throw new Error('the core uses call_indirect: wasm-rt-mcu has no tables');
  const defs = new Map();
  const re = /^static [A-Za-z0-9_]+ (w2c_[A-Za-z0-9_]+)\(Z_edgeloop_instance_t\* instance[^)]*\) \{$/gm;
  let m;
  const starts = [];
  while ((m = re.exec(c)) !== null) starts.push({ name: m[1], at: m.index });
  for (let i = 0; i < starts.length; i++) {
    const body = c.slice(starts[i].at, c.indexOf('\n}\n', starts[i].at));
    const calls = new Set();
    for (const k of body.matchAll(/\b(w2c_[A-Za-z0-9_]+)\(instance\b/g)) if (k[1] !== starts[i].name) calls.add(k[1]);
    defs.set(starts[i].name, [...calls]);
  }
  if (defs.size === 0) throw new Error('no wasm functions found in the wasm2c output');
  const depth = new Map();
  const visiting = new Set();
  class Recursion extends Error {}
  const visit = (f) => {
    if (depth.has(f)) return depth.get(f);
    if (visiting.has(f)) throw new Recursion(f);
    visiting.add(f);
    let d = 1;
    for (const g of defs.get(f) ?? []) if (defs.has(g)) d = Math.max(d, 1 + visit(g));
    visiting.delete(f);
    depth.set(f, d);
    return d;
  };
  let maxDepth = 0;
  try {
    for (const f of defs.keys()) maxDepth = Math.max(maxDepth, visit(f));
  } catch (e) {
    if (!(e instanceof Recursion)) throw e;
    return { functions: defs.size, callDepth: 0 }; // recursive: no static bound, the runtime counts
  }
  return { functions: defs.size, callDepth: maxDepth };
}

// ---- generated headers -------------------------------------------------------------

const cName = (s) => s.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();

async function generateHeaders(layout, analysis, wasmHash) {
  const dist = join(ROOT, 'dist');
  const need = ['host/runtime/abi.js', 'host/runtime/core.js', 'firmware-sim/run.js', 'firmware-sim/plants/index.js', 'firmware-sim/mcu.js', 'firmware-sim/scenario/schema.js'];
  for (const f of need) {
    if (!existsSync(join(dist, f))) throw new ToolMissing(`dist/${f} is missing: run \`npm run build\` first (npm run firmware does)`);
  }
  const load = (f) => import(pathToFileURL(join(dist, f)).href);
  const abi = await load('host/runtime/abi.js');
  const { Core } = await load('host/runtime/core.js');
  const { coreConfig } = await load('firmware-sim/run.js');
  const { PLANTS } = await load('firmware-sim/plants/index.js');
  const { Adc } = await load('firmware-sim/mcu.js');
  const { parseScenario } = await load('firmware-sim/scenario/schema.js');


  const lines = [];
  const block = (title, entries, prefix) => {
    lines.push(`/* ${title} */`);
    for (const [name, value] of entries) lines.push(`#define ${prefix}${cName(name)} ${value}`);
    lines.push('');
  };
  block('Parameter ids (config_set, param_get)', [...abi.PARAM_IDS], 'EL_P_');
  block('Monitor ids', abi.MONITORS.map((m, i) => [m, i]), 'EL_M_');
  block('Stages (cause_stage, event stage)', abi.STAGES.map((s, i) => [s, i]), 'EL_STAGE_');
  block('Event kinds', abi.EVENT_KINDS.map((k, i) => [k, i]), 'EL_EV_');
  block('Counters (counter(id))', Object.entries(abi.COUNTERS), 'EL_C_');
  block('Status codes', [['ok', 0], ['unknown_param', -1], ['range', -2], ['conflict', -3], ['state', -4]], 'EL_ST_');
  writeAtomic(join(GEN, 'edgeloop_params.h'), `/* Generated by scripts/firmware.mjs from host/runtime/abi.ts: do not edit. */
#ifndef EDGELOOP_PARAMS_H
#define EDGELOOP_PARAMS_H

${lines.join('\n')}#endif
`);

  // Configuration tables, converted to raw values with the core's own formats
  // (Core.rawParam: Q16, flags, actions, levels, directions).
  const core = Core.load(CORE_WASM);
  const table = (cname, cfg, comment) => {
    core.configure(cfg); // throws a ParamError naming the field if the table is bad
    const rows = Object.entries(cfg).map(([n, v]) => `  {EL_P_${cName(n)}, ${core.rawParam(n, v)}}, /* ${n} = ${v} */`);
    return `/* ${comment} */\nstatic const edgeloop_param_t ${cname}[] = {\n${rows.join('\n')}\n};\n#define ${cName(cname)}_COUNT ${rows.length}u\n`;
  };
  // bench/core.ts makeCore(sensors): the loop of the V8 benchmark.
  const bench = (sensors) => ({
    n_sensors: sensors, s0_scale: 0.05, s1_scale: 0.05, s2_scale: 0.05, range_min: -10, range_max: 200,
    rate_max: 50, spike_thr: 5, stuck_band: 0, disagree_thr: 2, lpf_tau: 0.2,
    model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, ew_window: 32,
    kp: 10, ti: 16, td: 0.5, tf: 2, out_min: 0, out_max: 100, slew: 20,
    fb_setpoint: 40, fb_kp: 2, fb_ti: 60, track_thr: 10, osc_amp: 3, mismatch_thr: 5,
    period_min_us: 100_000, period_max_us: 100_000,
  });
  const spec = PLANTS.thermal;
  const adc = new Adc(spec.sensors.min, spec.sensors.max, spec.sensors.adcBits);
  const thermal = coreConfig(spec, parseScenario({ plant: 'thermal', durationS: 1 }), adc);
  writeAtomic(join(GEN, 'configs.h'), `/* Generated by scripts/firmware.mjs: do not edit. Raw values (Q16 where the format is q16). */
#ifndef EDGELOOP_CONFIGS_H
#define EDGELOOP_CONFIGS_H

#include "edgeloop.h"

${table('el_bench_config_3', bench(3), 'bench/core.ts, 3 redundant sensors')}
${table('el_bench_config_1', bench(1), 'bench/core.ts, 1 sensor')}
${table('el_thermal_config', thermal, 'firmware-sim thermal chamber (plants/thermal.ts, coreConfig of run.ts)')}
#define EL_THERMAL_SETPOINT_Q16 ${Math.round(spec.setpoint * 65536)}
#define EL_THERMAL_PERIOD_US ${spec.periodUs}

#ifndef EXAMPLE_TICKS_MAX
#define EXAMPLE_TICKS_MAX 0
#endif

#endif
`);

  // Last: its hash marks the generated files complete (parallel builds test it).
  writeAtomic(join(GEN, 'core_layout.h'), `/* Generated by scripts/firmware.mjs from build/core.wasm: do not edit. */
#ifndef EDGELOOP_CORE_LAYOUT_H
#define EDGELOOP_CORE_LAYOUT_H

/* sha256 of the build/core.wasm this layout was computed for, and the generator. */
#define EDGELOOP_CORE_WASM_SHA256 "${wasmHash} ${GENERATOR}"
/* Declared linear memory: ${layout.limits.min} page(s) of 64 KiB (max ${layout.limits.max ?? 'none'}). */
#define EDGELOOP_CORE_DECLARED_PAGES ${layout.limits.min}
/* Data segments in core.wasm: [${layout.dataStart}, ${layout.dataEnd}) (${layout.segments} segments; zero bytes stripped). */
#define EDGELOOP_CORE_DATA_END ${layout.dataEnd}
/* Static regions (memory.data, initialized or zero-filled) end here: the
 * highest address the core touches + 1 (${layout.probeSegments} regions, from the layout probe). */
#define EDGELOOP_CORE_STATIC_END ${layout.staticEnd}
/* The static linear memory of the MCU runtime (STATIC_END rounded up to 8). */
#define EDGELOOP_CORE_MEM_BYTES ${layout.memBytes}
/* Deepest chain of wasm calls (${analysis.functions} functions; 0: recursive, no static bound). */
#define EDGELOOP_CORE_CALL_DEPTH ${analysis.callDepth}

#endif
`);
}

// ---- wasm2c ------------------------------------------------------------------------

function findRuntime() {
  const env = process.env.WABT_RUNTIME_DIR ? [process.env.WABT_RUNTIME_DIR] : [];
  const w2c = spawnSync('sh', ['-c', 'command -v wasm2c'], { encoding: 'utf8' }).stdout.trim();
  const prefix = w2c ? resolve(dirname(w2c), '..') : '/usr';
  const dirs = [...env, '/usr/share/wabt/wasm2c', join(prefix, 'share', 'wabt', 'wasm2c'), '/usr/local/share/wabt/wasm2c', '/usr/src/wasm2c', '/usr/include', join(prefix, 'include'), '/usr/local/include'];
  const header = dirs.map((d) => join(d, 'wasm-rt.h')).find(existsSync);
  const impl = dirs.map((d) => join(d, 'wasm-rt-impl.c')).find(existsSync);
  const implH = dirs.map((d) => join(d, 'wasm-rt-impl.h')).find(existsSync);
  if (!header) throw new ToolMissing('wasm-rt.h (wabt) not found; set WABT_RUNTIME_DIR');
  return { header, impl, implDir: impl ? dirname(impl) : null, implH };
}

async function generate() {
  if (!have('wasm2c')) throw new ToolMissing('wasm2c (wabt) is not installed');
  if (!existsSync(CORE_WASM)) throw new ToolMissing('build/core.wasm is missing: run `npm run build` first');
  const wasm = readFileSync(CORE_WASM);
  const hash = createHash('sha256').update(wasm).digest('hex');
  const rt = findRuntime();
  mkdirSync(GEN, { recursive: true });
  const layoutFile = join(GEN, 'core_layout.h');
  // Generated files are current when core_layout.h (written last) names this
  // core.wasm and this generator.
  const fresh = existsSync(layoutFile) && readFileSync(layoutFile, 'utf8').includes(`${hash} ${GENERATOR}`);
  if (!fresh) {
    const tmp = join(GEN, `gen-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    let c;
    let h;
    try {
      await run('wasm2c', [CORE_WASM, '-o', join(tmp, 'core.c'), '-n', 'edgeloop']);
      c = readFileSync(join(tmp, 'core.c'), 'utf8');
      h = readFileSync(join(tmp, 'core.h'), 'utf8');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const analysis = analyzeGenerated(c, h);
    const layout = await coreLayout(wasm);
    writeAtomic(join(GEN, 'core.h'), h);
    writeAtomic(join(GEN, 'core.c'), patchAccessors(c));
    writeAtomic(join(GEN, 'wasm-rt.h'), readFileSync(rt.header));
    await generateHeaders(layout, analysis, hash);
    log(`wasm2c: ${rel(CORE_WASM)} -> ${rel(GEN)}/core.c (${analysis.functions} functions, ` +
      `${analysis.callDepth ? `call depth ${analysis.callDepth}, no recursion` : 'recursive'})`);
    log(`layout: data segments end at ${layout.dataEnd}, static regions at ${layout.staticEnd}: linear memory ${layout.memBytes} bytes (declared ${layout.limits.min * 65536})`);
  } else if (!existsSync(join(GEN, 'configs.h')) || !existsSync(join(GEN, 'edgeloop_params.h'))) {
    throw new Error('build/wasm2c is incomplete: delete it and run again');
  }
  const layoutText = readFileSync(layoutFile, 'utf8');
  const num = (name) => Number(new RegExp(`#define ${name} (\\d+)`).exec(layoutText)[1]);
  return { rt, memBytes: num('EDGELOOP_CORE_MEM_BYTES'), callDepth: num('EDGELOOP_CORE_CALL_DEPTH'), hash };
}

// ---- native ------------------------------------------------------------------------

const WARN = ['-Wall', '-Wextra', '-Wno-unused-parameter'];
// wasm2c output: its prelude defines helpers a module may not use.
const CORE_WARN = ['-Wno-unused-function', '-Wno-unused-variable', '-Wno-unused-but-set-variable', '-Wno-unused-label', '-Wno-unused-parameter'];
// Wasm floating point is IEEE-754 without contraction: never fuse a*b+c.
const FP = ['-ffp-contract=off'];

async function buildNative(gen) {
  if (!have('gcc')) throw new ToolMissing('gcc is not installed');
  if (!gen.rt.impl) throw new ToolMissing('wasm-rt-impl.c (wabt) not found; set WABT_RUNTIME_DIR');
  const inc = ['-I', GEN, '-I', join(PIL, 'mcu'), '-I', join(PIL, 'common'), '-I', gen.rt.implDir];
  const variants = [
    { name: 'edgeloop-native', defs: [] },
    { name: 'edgeloop-native-boundscheck', defs: ['-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0'] },
  ];
  const jobs = [];
  for (const v of variants) {
    const obj = join(NATIVE_OUT, 'obj', v.name);
    mkdirSync(obj, { recursive: true });
    const base = ['-std=gnu11', '-O2', ...FP, ...v.defs, ...inc];
    const srcs = [
      [join(GEN, 'core.c'), CORE_WARN],
      [gen.rt.impl, ['-w']],
      [join(PIL, 'mcu', 'edgeloop.c'), WARN],
      [join(PIL, 'common', 'protocol.c'), WARN],
      [join(PIL, 'native', 'main.c'), WARN],
    ];
    jobs.push({ v, objs: srcs.map(([s]) => join(obj, s.split('/').pop().replace(/\.c$/, '.o'))), compile: srcs.map(([s, w], i) => () => run('gcc', [...base, ...w, '-c', s, '-o', join(obj, s.split('/').pop().replace(/\.c$/, '.o'))])) });
  }
  await pool(jobs.flatMap((j) => j.compile), 2);
  for (const j of jobs) {
    await run('gcc', ['-O2', ...j.objs, '-lm', '-o', join(NATIVE_OUT, j.v.name)]);
    log(`native: ${rel(join(NATIVE_OUT, j.v.name))}`);
  }
}

// ---- Cortex-M ----------------------------------------------------------------------

async function buildMcu(gen, key) {
  const t = MCU_TARGETS[key];
  for (const tool of ['arm-none-eabi-gcc', 'arm-none-eabi-size', 'arm-none-eabi-nm', 'arm-none-eabi-ar']) {
    if (!have(tool)) throw new ToolMissing(`${tool} is not installed`);
  }
  const out = FW_OUT;
  const obj = join(out, 'obj', key);
  mkdirSync(obj, { recursive: true });
  const arch = [`-mcpu=${t.cpu}`, '-mthumb', '-mfloat-abi=soft'];
  // Software bounds checks (no guard pages on an MCU). The wasm call depth
  // is counted at run time only when the build cannot bound it statically:
  // with no recursion and no call_indirect the deepest chain is known
  // (EDGELOOP_CORE_CALL_DEPTH) and the stack it needs is measured (M), so
  // the counter could never fire; it costs about 220 instructions per tick
  // and 1.3 KB of code on the M3 (measured).
  const depth = gen.callDepth > 0
    ? ['-DWASM_RT_USE_STACK_DEPTH_COUNT=0']
    : ['-DWASM_RT_USE_STACK_DEPTH_COUNT=1', '-DWASM_RT_MAX_CALL_STACK_DEPTH=64'];
  const base = [
    ...arch, '-std=gnu11', '-O2', '-ffunction-sections', '-fdata-sections', ...FP, '--specs=nano.specs',
    '-DNDEBUG', '-DEDGELOOP_MCU=1', '-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0', ...depth, `-DEDGELOOP_TARGET_NAME="${t.cpu}"`,
    '-I', GEN, '-I', join(PIL, 'mcu'), '-I', join(PIL, 'common'),
  ];
  // The core: constant-size static memory for the bounds checks; no inlining
  // of small functions (the same instruction count per tick, measured, and
  // about 500 bytes less code).
  const coreFlags = ['-include', 'wasm-rt-mcu-static.h', '-fno-inline-small-functions', '-Os'];
  const mcu = (f) => join(PIL, 'mcu', f);
  const units = {
    core: [join(GEN, 'core.c'), CORE_WARN, coreFlags],
    rt: [mcu('wasm-rt-mcu.c'), WARN, []],
    edgeloop: [mcu('edgeloop.c'), WARN, []],
    edgeloop_probe: [mcu('edgeloop.c'), WARN, ['-DEDGELOOP_PROBE_HEADER="probe.h"']],
    protocol: [join(PIL, 'common', 'protocol.c'), WARN, []],
    uart: [mcu('uart.c'), WARN, []],
    startup: [mcu('startup.c'), WARN, []],
    insn: [mcu('insn_counter.c'), WARN, []],
    main_pil: [mcu('main_pil.c'), WARN, []],
    example: [mcu('example_main.c'), WARN, []],
  };
  const o = (name) => join(obj, `${name}.o`);
  await pool(Object.entries(units).map(([name, [src, warn, defs]]) => () => run('arm-none-eabi-gcc', [...base, ...warn, ...defs, '-c', src, '-o', o(name)])), 2);
  const link = ['arm-none-eabi-gcc', ...arch, '--specs=nano.specs', '-nostartfiles', '-L', join(PIL, 'mcu'), '-Wl,--gc-sections'];
  const elf = join(out, `edgeloop-${key}.elf`);
  const example = join(out, `example-${key}.elf`);
  const lib = join(out, `libedgeloop-${t.cpu}.a`);
  await run(link[0], [...link.slice(1), '-T', t.ld, `-Wl,-Map=${elf.replace(/\.elf$/, '.map')}`,
    ...['startup', 'main_pil', 'protocol', 'uart', 'insn', 'edgeloop_probe', 'rt', 'core'].map(o), '-lm', '-o', elf]);
  await run(link[0], [...link.slice(1), '-T', t.ld, `-Wl,-Map=${example.replace(/\.elf$/, '.map')}`,
    ...['startup', 'example', 'protocol', 'uart', 'edgeloop', 'rt', 'core'].map(o), '-lm', '-o', example]);
  await run('arm-none-eabi-ar', ['rcs', lib, ...['edgeloop', 'rt', 'core'].map(o)]);
  return { key, elf, example, lib };
}

/** .text/.data/.bss of an ELF (Berkeley format) and the RAM of the core's objects. */
export function footprint(elf) {
  const size = spawnSync('arm-none-eabi-size', [elf], { encoding: 'utf8' });
  const [text, data, bss] = size.stdout.trim().split('\n')[1].trim().split(/\s+/).map(Number);
  const nm = spawnSync('arm-none-eabi-nm', ['-S', elf], { encoding: 'utf8' }).stdout;
  const sym = (name) => {
    const m = new RegExp(`^[0-9a-f]+ ([0-9a-f]+) [bBdD] ${name}$`, 'm').exec(nm);
    return m ? parseInt(m[1], 16) : 0;
  };
  return { text, data, bss, sizeOutput: size.stdout.trim(), linearMemory: sym('wasm_rt_mcu_linear_memory'), instance: sym('s_core') };
}

// ---- main ----------------------------------------------------------------------------

async function main(argv) {
  const targets = new Set();
  let bench = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') {
      const t = argv[++i];
      if (t === 'all') ['native', 'm3', 'm4'].forEach((x) => targets.add(x));
      else if (t === 'native' || t in MCU_TARGETS) targets.add(t);
      else { console.error(`unknown target '${t}': expected native, m3, m4 or all`); return 64; }
    } else if (a === '--bench') {
      bench = Number(argv[++i]);
      if (!Number.isInteger(bench) || bench <= 0) { console.error('--bench needs a tick count > 0'); return 64; }
    } else if (a === '--quiet') {
      quiet = true;
    } else {
      console.error(`usage: node scripts/firmware.mjs [--target native|m3|m4|all ...] [--bench N] [--quiet]`);
      return 64;
    }
  }
  if (targets.size === 0) ['native', 'm3', 'm4'].forEach((x) => targets.add(x));
  process.chdir(ROOT);
  try {
    const gen = await generate();
    const jobs = [];
    if (targets.has('native')) jobs.push(buildNative(gen));
    const mcu = [...targets].filter((t) => t in MCU_TARGETS);
    const built = [];
    for (const key of mcu) built.push(await buildMcu(gen, key));
    await Promise.all(jobs);
    for (const b of built) {
      for (const elf of [b.elf, b.example]) {
        const f = footprint(elf);
        log(`\n${f.sizeOutput.replace(ROOT + '/', '')}`);
        if (elf === b.elf) {
          log(`  core RAM: linear memory ${f.linearMemory} B + instance (wasm globals) ${f.instance} B = ${f.linearMemory + f.instance} B` +
            ` (stack: measure with the M command)`);
        }
      }
      log(`  library: ${rel(b.lib)}`);
    }
    if (bench > 0 && targets.has('native')) {
      for (const name of ['edgeloop-native', 'edgeloop-native-boundscheck']) {
        const r = spawnSync(join(NATIVE_OUT, name), ['--bench', String(bench)], { encoding: 'utf8' });
        process.stdout.write(r.stdout + r.stderr);
        if (r.status !== 0) return 1;
      }
    }
    return 0;
  } catch (e) {
    console.error(`firmware: ${e.message}`);
    return e instanceof ToolMissing ? 2 : 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
