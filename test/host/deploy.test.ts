// Signed core deployment: the fleet key signs a module; the gate refuses
// anything unsigned, signed by another key, changed after signing, or not a
// core; a CoreSlot swaps a core in the running loop only when every step
// succeeds and swaps back on rollback; a bad canary (build/bad_core.wasm)
// really does drive the plant away and trips the real monitors; and the
// rollout state machine soaks a canary and rolls it back when it misbehaves.
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateFleetKey, signModule, verifyModule, loadPublicKey, loadPrivateKey, saveFleetKey, KeyError,
  writeSignatureFile, readSignatureFile, signaturePath, toBase64, fromBase64, SIGNATURE_BYTES, signatureRelease,
} from '../../host/deploy/signing.js';
import { acceptModule, DeployError, MODULE_MAX_BYTES, moduleVersion, sha256Hex } from '../../host/deploy/module.js';
import { CoreSlot, type CoreConfig } from '../../host/agent/core-slot.js';
import { Rollout, type RolloutTransport } from '../../host/deploy/rollout.js';
import type { AgentView, TrackedCommand } from '../../host/coordinator/coordinator.js';
import { parseCommand, CommandError, DEPLOY_BASE64_MAX } from '../../host/mqtt/commands.js';
import { decodePayload, encodePayload, PAYLOAD_MAX_BYTES } from '../../host/mqtt/codec.js';
import { Core, DEFAULT_CORE_PATH } from '../../host/runtime/core.js';
import { Rng } from '../../firmware-sim/rng.js';
import { coreBytes, fieldCoreBytes } from '../support/core.js';
import { stubCore } from '../support/wasm-build.js';
import { BASE_CONFIG, SENSORS, PERIOD_US, Thermal } from '../support/thermal.js';

const BAD_CORE_PATH = join(DEFAULT_CORE_PATH, '..', 'bad_core.wasm');
const badCoreBytes = () => readFileSync(BAD_CORE_PATH);

const fleet = generateFleetKey();
const other = generateFleetKey();
const signed = (bytes: Uint8Array) => signModule(bytes, fleet.privateKeyPem);

/** The refusal of a module, as { field, reason }. */
function refusal(f: () => unknown): { field: string; reason: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof DeployError) return { field: err.field, reason: err.reason };
    throw err;
  }
  throw new Error('expected a DeployError, nothing was thrown');
}

describe('signing (Ed25519 fleet key)', () => {
  it('signs and verifies a module; another key, a changed byte or a short signature does not verify', () => {
    expect(fleet.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(fleet.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const bytes = coreBytes();
    const sig = signed(bytes);
    expect(sig.length).toBe(SIGNATURE_BYTES);
    expect(signatureRelease(sig)).toBeGreaterThan(0);
    expect(verifyModule(bytes, sig, fleet.publicKeyPem)).toBe(true);
    expect(verifyModule(bytes, sig, other.publicKeyPem)).toBe(false);
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length >> 1] ^= 1;
    expect(verifyModule(tampered, sig, fleet.publicKeyPem)).toBe(false);
    expect(verifyModule(bytes, sig.subarray(0, SIGNATURE_BYTES - 1), fleet.publicKeyPem)).toBe(false);
    // The release is signed too: the same signature with another release in front does not verify.
    const bumped = Uint8Array.from(sig);
    bumped[7] ^= 1;
    expect(verifyModule(bytes, bumped, fleet.publicKeyPem)).toBe(false);
  });

  it('loads keys from PEM files, and names the file and what it expected when one is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-keys-'));
    const paths = { privatePath: join(dir, 'fleet.key'), publicPath: join(dir, 'fleet.pub') };
    saveFleetKey(fleet, paths);
    expect(() => saveFleetKey(fleet, paths), 'never overwrites a key').toThrow(/EEXIST/);
    const pub = loadPublicKey(paths.publicPath);
    const priv = loadPrivateKey(paths.privatePath);
    expect(verifyModule(coreBytes(), signModule(coreBytes(), priv), pub)).toBe(true);

    const missing = join(dir, 'nope.pub');
    expect(() => loadPublicKey(missing)).toThrow(KeyError);
    expect(() => loadPublicKey(missing)).toThrow(`${missing}: expected a PEM Ed25519 public key file, found no readable file (ENOENT)`);
    // The private key where the public one belongs: agents must never hold the signing key.
    expect(() => loadPublicKey(paths.privatePath)).toThrow(`${paths.privatePath}: expected a PEM public key`);
    expect(() => loadPrivateKey(paths.publicPath)).toThrow(`${paths.publicPath}: expected a PEM Ed25519 private key`);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'hello');
    expect(() => loadPublicKey(garbage)).toThrow(new RegExp(`^${garbage}: expected a PEM Ed25519 public key .*found something else`));
    const rsa = join(dir, 'rsa.pub');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() => loadPublicKey(rsa)).toThrow(`${rsa}: expected an Ed25519 public key, found a rsa key`);
    const enc = join(dir, 'enc.key');
    writeFileSync(enc, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }));
    expect(() => loadPrivateKey(enc)).toThrow(`${enc}: expected an unencrypted PEM Ed25519 private key, found an encrypted key`);
  });

  it('keeps a detached signature next to the module as <module>.sig (base64)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-sig-'));
    const wasm = join(dir, 'core.wasm');
    writeFileSync(wasm, coreBytes());
    const sig = signed(coreBytes());
    expect(writeSignatureFile(wasm, sig)).toBe(join(dir, 'core.wasm.sig'));
    expect(signaturePath(wasm)).toBe(join(dir, 'core.wasm.sig'));
    expect(readFileSync(join(dir, 'core.wasm.sig'), 'utf8')).toBe(toBase64(sig) + '\n');
    expect(readSignatureFile(wasm, { forModule: true })).toEqual(sig);
    writeFileSync(join(dir, 'short.sig'), toBase64(sig.subarray(0, 10)));
    expect(() => readSignatureFile(join(dir, 'short.sig'))).toThrow(/short\.sig: expected a base64 edgeloop signature \(72 bytes: the release and the Ed25519 signature; edgeloop sign writes it\), found 10 bytes/);
    writeFileSync(join(dir, 'junk.sig'), 'not base64!');
    expect(() => readSignatureFile(join(dir, 'junk.sig'))).toThrow(/junk\.sig: .* found text that is not base64/);
    expect(() => readSignatureFile(join(dir, 'none.wasm'), { forModule: true })).toThrow(/none\.wasm\.sig: expected a base64 edgeloop signature/);
  });

  it('reads strict base64 only', () => {
    expect(fromBase64(toBase64(Uint8Array.from([1, 2, 3, 250])))).toEqual(Uint8Array.from([1, 2, 3, 250]));
    expect(fromBase64('AQID+g==')).toEqual(Uint8Array.from([1, 2, 3, 250]));
    for (const bad of ['AQID+g=', 'AQ ID', 'AQID*g==', 'A']) expect(fromBase64(bad), bad).toBeNull();
  });
});

describe('acceptModule (the gate before an agent instantiates a module)', () => {
  it('accepts the signed core and names its version (sha256 prefix)', () => {
    const a = acceptModule(coreBytes(), signed(coreBytes()), fleet.publicKeyPem);
    expect(a.module).toBeInstanceOf(WebAssembly.Module);
    expect(a.sha256).toBe(sha256Hex(coreBytes()));
    expect(a.version).toBe(a.sha256.slice(0, 16));
    expect(moduleVersion(coreBytes())).toBe(a.version);
    // The bad canary is a valid, signable core: the signature says who built it, not that it is right.
    expect(acceptModule(badCoreBytes(), signed(badCoreBytes()), fleet.publicKeyPem).version).not.toBe(a.version);
  });

  it('refuses an unsigned module, and one signed by another key, before it parses anything', () => {
    const garbage = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    // Not even Wasm, but unsigned: the answer is about the signature (nobody parsed it).
    expect(refusal(() => acceptModule(garbage, null, fleet.publicKeyPem))).toEqual({
      field: 'signature', reason: 'missing: every module must carry an Ed25519 signature by the fleet key (edgeloop sign)' });
    expect(refusal(() => acceptModule(garbage, signModule(garbage, other.privateKeyPem), fleet.publicKeyPem)))
      .toMatchObject({ field: 'signature', reason: expect.stringMatching(/^does not verify with the fleet public key/) });
    expect(refusal(() => acceptModule(coreBytes(), signModule(coreBytes(), other.privateKeyPem), fleet.publicKeyPem)).field).toBe('signature');
    expect(refusal(() => acceptModule(coreBytes(), new Uint8Array(12), fleet.publicKeyPem)))
      .toEqual({ field: 'signature', reason: 'expected a 72-byte signature (the release and the Ed25519 signature, edgeloop sign), received 12 bytes' });
  });

  it('refuses a module changed by one byte after signing', () => {
    const bytes = coreBytes();
    const sig = signed(bytes);
    const tampered = Uint8Array.from(bytes);
    tampered[bytes.length - 100] ^= 0x40;
    expect(refusal(() => acceptModule(tampered, sig, fleet.publicKeyPem)).field).toBe('signature');
  });

  it('refuses signed modules that are not a core: invalid Wasm, an import, a missing export, too large', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['invalid Wasm', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff, 0xff]), /^not a (valid )?WebAssembly module: /],
      ['not Wasm at all', new TextEncoder().encode('#!/bin/sh\nrm -rf /\n'), /^not a WebAssembly module: bad magic/],
      ['an import', stubCore((f) => f, { imports: [{ module: 'env', name: 'abort', params: ['i32', 'i32', 'i32', 'i32'], results: [] }] }),
        /^module imports env\.abort \(func\); the core must import nothing$/],
      ['a missing export', stubCore((fs) => fs.filter((f) => f.name !== 'tick')), /^missing export 'tick' /],
    ];
    for (const [what, bytes, reason] of cases) {
      const r = refusal(() => acceptModule(bytes, signed(bytes), fleet.publicKeyPem));
      expect(r.field, what).toBe('module');
      expect(r.reason, what).toMatch(reason);
    }
    const big = new Uint8Array(MODULE_MAX_BYTES + 1);
    expect(refusal(() => acceptModule(big, signed(big), fleet.publicKeyPem)))
      .toEqual({ field: 'module', reason: `${MODULE_MAX_BYTES + 1} bytes is over the ${MODULE_MAX_BYTES}-byte module limit` });
  });
});

describe('command/deploy, command/signature, command/rollback', () => {
  const cmd = (metrics: { name: string; type: 'String' | 'Boolean' | 'Double'; value: string | boolean | number }[]) =>
    parseCommand({ timestamp: 0, metrics: [{ name: 'command/id', type: 'String', value: 'c-1' }, ...metrics] });
  const errorOf = (f: () => unknown) => { try { f(); } catch (e) { return e as CommandError; } throw new Error('no error'); };

  it('decodes the module and its signature; the gate judges them', () => {
    const sig = signed(coreBytes());
    const c = cmd([{ name: 'command/deploy', type: 'String', value: toBase64(coreBytes()) }, { name: 'command/signature', type: 'String', value: toBase64(sig) }]);
    expect(c).toMatchObject({ id: 'c-1', kind: 'deploy' });
    if (c.kind !== 'deploy') throw new Error('kind');
    expect(c.module).toEqual(new Uint8Array(coreBytes()));
    expect(c.signature).toEqual(sig);
    // Unsigned: parsed, so that the agent acknowledges the gate's refusal.
    expect(cmd([{ name: 'command/deploy', type: 'String', value: toBase64(coreBytes()) }])).toMatchObject({ kind: 'deploy', signature: null });
    expect(cmd([{ name: 'command/rollback', type: 'Boolean', value: true }])).toEqual({ id: 'c-1', kind: 'rollback' });
  });

  it('carries the real core in one Sparkplug DCMD payload, and any module the gate accepts (up to MODULE_MAX_BYTES) too', () => {
    const deployWire = (module: Uint8Array) => encodePayload({ timestamp: 1, metrics: [
      { name: 'command/id', type: 'String', value: 'coord1-7' },
      { name: 'command/deploy', type: 'String', value: toBase64(module) },
      { name: 'command/signature', type: 'String', value: toBase64(signed(module)) }] });
    // The field build (24 KB: about half the payload limit) ...
    const wire = deployWire(fieldCoreBytes());
    expect(wire.length).toBeLessThan(PAYLOAD_MAX_BYTES);
    const c = parseCommand(decodePayload(wire));
    if (c.kind !== 'deploy') throw new Error(`kind ${c.kind}`);
    expect(acceptModule(c.module, c.signature, fleet.publicKeyPem).version).toBe(moduleVersion(fieldCoreBytes()));
    // ... and the largest module the gate takes, so a core may grow to the gate's limit and still go in one message.
    expect(deployWire(new Uint8Array(MODULE_MAX_BYTES)).length).toBeLessThan(PAYLOAD_MAX_BYTES);
  });

  it('refuses malformed, oversized or misplaced values, naming the field', () => {
    const b64 = toBase64(coreBytes());
    expect(errorOf(() => cmd([{ name: 'command/deploy', type: 'String', value: 'not base64!' }])).field).toBe('command/deploy');
    expect(errorOf(() => cmd([{ name: 'command/deploy', type: 'String', value: 'A'.repeat(DEPLOY_BASE64_MAX + 4) }])).message)
      .toBe(`command/deploy: expected a WebAssembly module in base64 of at most ${DEPLOY_BASE64_MAX} characters (${MODULE_MAX_BYTES} bytes), received "${DEPLOY_BASE64_MAX + 4} characters"`);
    expect(errorOf(() => cmd([{ name: 'command/deploy', type: 'Double', value: 3 }])).field).toBe('command/deploy');
    expect(errorOf(() => cmd([{ name: 'command/deploy', type: 'String', value: b64 }, { name: 'command/signature', type: 'String', value: toBase64(new Uint8Array(63)) }])).field)
      .toBe('command/signature');
    expect(errorOf(() => cmd([{ name: 'command/setpoint', type: 'Double', value: 50 }, { name: 'command/signature', type: 'String', value: toBase64(new Uint8Array(SIGNATURE_BYTES)) }])).message)
      .toBe('command/signature: expected only alongside command/deploy, received "command/setpoint"');
    expect(errorOf(() => cmd([{ name: 'command/rollback', type: 'Boolean', value: false }])).field).toBe('command/rollback');
    expect(errorOf(() => cmd([{ name: 'command/rollback', type: 'Boolean', value: true }, { name: 'command/deploy', type: 'String', value: b64 }])).field).toBe('command');
  });
});

// ---- a loop to swap cores in --------------------------------------------------

/** The chamber's configuration (test/support/thermal.ts), one sensor, with its safety envelope: 10..95 C, acted on 3 C before a limit. */
const CONFIG: CoreConfig = { ...BASE_CONFIG, env_min: 10, env_max: 95, env_margin: 3, env_hi_dir: 'down', env_lo_dir: 'up', trip_fb: 0 };

function configuredCore(bytes: Uint8Array = coreBytes()): Core {
  const core = Core.fromBytes(bytes);
  core.configure(CONFIG);
  core.setSetpoint(80, 0);
  return core;
}

/**
 * The thermal chamber (FOPDT, 10 Hz, 12-bit ADC with noise) closed through a
 * CoreSlot, the way an agent runs it: slot.tick, no actuator feedback, and
 * the running core's trip output cutting the heater's power (a binding
 * without a physical trip channel: the heater gets 0 %).
 */
class SlotLoop {
  readonly plant = Thermal.plantAtRest(80);
  readonly rng = new Rng(7);
  tUs = 0;
  u = 40;
  constructor(readonly slot: CoreSlot) {}
  get seconds(): number { return this.tUs / 1e6; }
  step(): void {
    this.tUs += PERIOD_US;
    const counts = Math.round((this.plant.output - SENSORS[0].offset) / SENSORS[0].scale + 2 * this.rng.gauss());
    this.u = this.slot.tick(this.tUs, { sensors: [counts] });
    this.plant.step(this.slot.core.tripped ? 0 : this.u);
  }
  run(seconds: number, each?: () => void): void {
    const end = this.tUs + seconds * 1e6;
    while (this.tUs < end) { this.step(); each?.(); }
  }
}

/** A loop settled at 80 C on the good core, its module bytes known to the slot. */
function settledLoop(): SlotLoop {
  const loop = new SlotLoop(new CoreSlot(configuredCore(), CONFIG, coreBytes()));
  loop.run(60);
  expect(loop.slot.core.mode).toBe('NOMINAL');
  expect(Math.abs(loop.plant.output - 80)).toBeLessThan(1);
  return loop;
}

describe('CoreSlot (hot swap and rollback)', () => {
  it('names the running module: its sha256 prefix, or builtin without its bytes', () => {
    expect(new CoreSlot(configuredCore(), CONFIG, coreBytes()).version).toBe(moduleVersion(coreBytes()));
    expect(new CoreSlot(configuredCore(), CONFIG).version).toBe('builtin');
  });

  it('installs a signed module into a running loop: a new, configured core with the setpoint, and the previous kept for rollback', () => {
    const loop = settledLoop();
    const before = loop.slot.core;
    loop.slot.configure({ kp: 9 });
    const v = loop.slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    expect(v).toBe(moduleVersion(coreBytes()));
    expect(loop.slot.core).not.toBe(before);
    expect(loop.slot.core.param('kp')).toBe(9);
    expect(loop.slot.core.param('s0_scale')).toBeCloseTo(0.05, 4);
    expect(loop.slot.core.setpoint).toBe(80);
    expect(loop.slot.previousVersion).toBe(v);
    expect(loop.slot.config.kp).toBe(9);
  });

  it('refuses a downgrade by replay: after release 200, release 100 with its own valid signature is refused; rollback() still goes back; the same bytes re-released as 300 are taken', () => {
    const loop = settledLoop();
    const v1 = coreBytes();
    const v2 = Uint8Array.from(badCoreBytes());
    const sig1 = signModule(v1, fleet.privateKeyPem, 100);
    loop.slot.install(v1, sig1, fleet.publicKeyPem, 80, loop.tUs);
    expect(loop.slot.release).toBe(100);
    loop.slot.install(v2, signModule(v2, fleet.privateKeyPem, 200), fleet.publicKeyPem, 80, loop.tUs);
    expect(loop.slot.release).toBe(200);
    const running = loop.slot.core;
    // v1 and its old signature, replayed: valid, and refused as not newer; nothing changes.
    expect(() => loop.slot.install(v1, sig1, fleet.publicKeyPem, 80, loop.tUs))
      .toThrow(/^deploy refused: signature: release 100 is not newer than the running core's release 200: a downgrade is refused \(to go back to the core this one replaced, roll back\)$/);
    expect(loop.slot.core).toBe(running);
    expect(loop.slot.release).toBe(200);
    // The same release again is not newer either.
    expect(() => loop.slot.install(v1, signModule(v1, fleet.privateKeyPem, 200), fleet.publicKeyPem, 80, loop.tUs)).toThrow(/release 200 is not newer/);
    // The explicit way back: rollback to the core the slot keeps (release 100).
    loop.slot.rollback(loop.tUs);
    expect(loop.slot.release).toBe(100);
    // The release that was rolled back does not come back by replay: the floor stays at the highest accepted.
    expect(loop.slot.highestRelease).toBe(200);
    expect(() => loop.slot.install(v2, signModule(v2, fleet.privateKeyPem, 200), fleet.publicKeyPem, 80, loop.tUs))
      .toThrow(/release 200 is not newer than the highest release this agent has run 200/);
    // A deliberate re-release of v1 under a new, higher release is a new release.
    loop.slot.install(v1, signModule(v1, fleet.privateKeyPem, 300), fleet.publicKeyPem, 80, loop.tUs);
    expect(loop.slot.release).toBe(300);
    // A signature from before releases were signed (64 bytes) is refused as such.
    expect(() => loop.slot.install(v1, sig1.subarray(8), fleet.publicKeyPem, 80, loop.tUs)).toThrow(/expected a 72-byte signature/);
  });

  it('swaps bumplessly: the new core starts from the command the old one last issued and stays NOMINAL through its warm-up', () => {
    const loop = settledLoop();
    const uBefore = loop.u;
    loop.slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    loop.step();
    // swap at t=60 s -> first command of the new core within a slew step of the last one (20 %/s: 2 % a tick)
    expect(Math.abs(loop.u - uBefore)).toBeLessThanOrEqual(2.01);
    let worst = 0;
    loop.run(60, () => {
      expect(loop.slot.core.mode).toBe('NOMINAL');
      worst = Math.max(worst, Math.abs(loop.plant.output - 80));
    });
    expect(loop.slot.core.cause).toBeNull();
    expect(worst).toBeLessThan(1);
  });

  it('contrapositive: ticked directly (no handover), a fresh core starts from the safe output and the heater drops', () => {
    const loop = settledLoop();
    const fresh = configuredCore();
    fresh.setSetpoint(80, loop.tUs);
    const u = fresh.tick(loop.tUs + PERIOD_US, { sensors: [Math.round(loop.plant.output / SENSORS[0].scale)] });
    expect(loop.u).toBeGreaterThan(30);
    expect(u).toBeLessThan(5);
  });

  it('a refused module leaves the running core untouched: same object, same ticks as a twin that was never offered one', () => {
    // Two identical chambers with the same noise: one through the slot, one on a twin core.
    const loop = new SlotLoop(new CoreSlot(configuredCore(), CONFIG, coreBytes()));
    const slot = loop.slot;
    const running = slot.core;
    const twin = new SlotLoop(new CoreSlot(configuredCore(), CONFIG, coreBytes()));
    const tickBoth = (n: number) => {
      for (let i = 0; i < n; i++) {
        loop.step();
        twin.step();
        expect(loop.u).toBe(twin.u);
        expect(slot.core.mode).toBe('NOMINAL');
        expect(slot.core.estimate).toBe(twin.slot.core.estimate);
        expect(slot.core.nextIntervalUs).toBe(twin.slot.core.nextIntervalUs);
      }
      t = loop.tUs;
    };
    let t = 0;
    tickBoth(50);
    const tampered = Uint8Array.from(coreBytes());
    tampered[200] ^= 1;
    const importing = stubCore((f) => f, { imports: [{ module: 'env', name: 'now', params: [], results: ['i64'] }] });
    const missing = stubCore((fs) => fs.filter((f) => f.name !== 'mode'));
    const offers: [string, () => unknown, RegExp][] = [
      ['unsigned', () => slot.install(coreBytes(), null, fleet.publicKeyPem, 80, t), /^deploy refused: signature: missing/],
      ['signed by another key', () => slot.install(coreBytes(), signModule(coreBytes(), other.privateKeyPem), fleet.publicKeyPem, 80, t), /signature: does not verify/],
      ['tampered after signing', () => slot.install(tampered, signed(coreBytes()), fleet.publicKeyPem, 80, t), /signature: does not verify/],
      ['with an import', () => slot.install(importing, signed(importing), fleet.publicKeyPem, 80, t), /module: module imports env\.now/],
      ['missing an export', () => slot.install(missing, signed(missing), fleet.publicKeyPem, 80, t), /module: missing export 'mode'/],
      // Passes the ABI, but its parameter ranges are all zero: the running configuration does not fit.
      ['a stand-in core that refuses the configuration', () => slot.install(stubCore(), signed(stubCore()), fleet.publicKeyPem, 80, t),
        /module: does not take the running configuration: parameter/],
      ['a setpoint out of range', () => slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 500, t), /module: does not take the running configuration: parameter 'setpoint'/],
    ];
    for (const [what, offer, why] of offers) {
      expect(offer, what).toThrow(DeployError);
      expect(offer, what).toThrow(why);
      expect(slot.core, what).toBe(running);
      expect(slot.previousVersion, what).toBeNull();
      tickBoth(20);
    }
    expect(running.ticks).toBe(twin.slot.core.ticks);
    expect(running.counter('param_rejects')).toBe(twin.slot.core.counter('param_rejects'));
    expect(running.counter('setpoint_rejects')).toBe(0);
    expect(running.raw.config_checksum()).toBe(twin.slot.core.raw.config_checksum());
    expect(() => slot.rollback(t), 'nothing to roll back to').toThrow(/^rollback: no previous core to go back to \(running [0-9a-f]{16}\)$/);
  });

  it('refuses to install over a core that is not NOMINAL (a swap would drop its latched faults)', () => {
    const loop = settledLoop();
    // sensor stuck in a dead band for long: drive the core out of NOMINAL with a lost sensor
    for (let i = 0; i < 50; i++) { loop.tUs += PERIOD_US; loop.slot.tick(loop.tUs, { sensors: [null] }); }
    expect(loop.slot.core.mode).not.toBe('NOMINAL');
    const running = loop.slot.core;
    expect(() => loop.slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 80, loop.tUs))
      .toThrow(/^deploy refused: module: not installed while the running core is (DEGRADED|FALLBACK|SAFE_STOP) \(sens_\w+\/sensing\): a swap would drop its latched faults/);
    expect(loop.slot.core).toBe(running);
  });

  it('rolls back to a new instance of the previous module, configured, once', () => {
    const loop = settledLoop();
    const good = moduleVersion(coreBytes());
    const first = loop.slot.core;
    loop.slot.install(badCoreBytes(), signed(badCoreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    expect(loop.slot.version).toBe(moduleVersion(badCoreBytes()));
    loop.run(1);
    expect(loop.slot.rollback(loop.tUs)).toBe(good);
    expect(loop.slot.version).toBe(good);
    expect(loop.slot.core).not.toBe(first);
    expect(loop.slot.core.ticks).toBe(0);
    expect(loop.slot.core.param('kp')).toBe(10);
    expect(loop.slot.core.setpoint).toBe(80);
    expect(loop.slot.previousVersion).toBeNull();
    expect(() => loop.slot.rollback(loop.tUs)).toThrow(/no previous core/);
  });

  it('rolls back to a builtin core (no bytes) by restarting its instance', () => {
    const core = configuredCore();
    const loop = new SlotLoop(new CoreSlot(core, CONFIG));
    loop.run(60);
    loop.slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    loop.run(5);
    expect(loop.slot.rollback(loop.tUs)).toBe('builtin');
    expect(loop.slot.core.raw).toBe(core.raw);
    expect(loop.slot.core.ticks).toBe(0);
    expect(loop.slot.core.events().map((e) => e.kind)).toEqual(['config']);
    loop.run(30, () => expect(loop.slot.core.mode).toBe('NOMINAL'));
    expect(Math.abs(loop.plant.output - 80)).toBeLessThan(1);
  });
});

describe('the bad canary (build/bad_core.wasm) in a closed loop', () => {
  it('passes the ABI gate like a good core', () => {
    expect(acceptModule(badCoreBytes(), signed(badCoreBytes()), fleet.publicKeyPem).module).toBeInstanceOf(WebAssembly.Module);
  });

  it('drives the heater to full power: the chamber heads for its limit, the real guard leaves NOMINAL; rollback gives control back to the good core', () => {
    const loop = settledLoop();
    // t=60 s: the bad core goes in -> the heater sits at 100 % -> the chamber heads for its 95 C limit ->
    // the real guard inside the bad core sees it coming and leaves NOMINAL within 10 s (the envelope cause:
    // it holds the command down, which the sabotage throws away). That is what a canary soak watches for.
    loop.slot.install(badCoreBytes(), signed(badCoreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    const swapS = loop.seconds;
    let leftS: number | null = null;
    loop.run(10, () => {
      expect(loop.u).toBe(100);
      if (leftS === null && loop.slot.core.mode !== 'NOMINAL') leftS = loop.seconds;
    });
    expect(leftS).not.toBeNull();
    expect(leftS! - swapS).toBeLessThan(10);
    expect(['FALLBACK', 'SAFE_STOP']).toContain(loop.slot.core.mode);
    expect(loop.slot.core.causes).toContain('envelope');
    expect(loop.plant.output).toBeGreaterThan(85);
    // rollback at t=70 s -> the good core restarts from full power (the handover). The chamber is mid-runaway
    // with 2 s of full power still in its dead time; the restarted core's own guard takes it (its envelope
    // hold, then the primary controller on its model estimate) and brings the chamber back to 80 C on its own.
    loop.slot.rollback(loop.tUs);
    expect(loop.slot.version).toBe(moduleVersion(coreBytes()));
    let peak = 0;
    loop.run(300, () => { peak = Math.max(peak, loop.plant.output); });
    expect(peak).toBeLessThan(100);
    expect(loop.slot.core.mode).toBe('NOMINAL');
    expect(Math.abs(loop.plant.output - 80)).toBeLessThan(1);
    loop.run(60, () => expect(loop.slot.core.mode).toBe('NOMINAL'));
  });

  it('contrapositive: the good core swapped in at the same point runs the same 10 s without a trip', () => {
    const loop = settledLoop();
    loop.slot.install(coreBytes(), signed(coreBytes()), fleet.publicKeyPem, 80, loop.tUs);
    loop.run(10, () => expect(loop.slot.core.mode).toBe('NOMINAL'));
    expect(Math.abs(loop.plant.output - 80)).toBeLessThan(1);
  });
});

// ---- the rollout state machine -------------------------------------------------

type Answer = 'ok' | 'refuse' | 'ignore' | 'ack-only';

/**
 * The coordinator as the rollout sees it, with agents that answer a deploy
 * the way each is told to, data that arrives every cycle unless an agent is
 * silenced, and the coordinator's command timeout (5 s).
 */
class FakeCoordinator implements RolloutTransport {
  now = 1_000_000;
  readonly views = new Map<string, AgentView>();
  readonly answers = new Map<string, Answer>();
  readonly silent = new Set<string>();
  readonly sent: { kind: 'deploy' | 'rollback'; key: string; cmd: TrackedCommand }[] = [];
  private readonly previous = new Map<string, string>();
  private n = 0;

  constructor(keys: string[]) {
    for (const key of keys) {
      const [group, node, device] = key.split('/');
      this.views.set(key, { key, group, node, device, health: 'online', lastSeenMs: this.now, mode: 'NOMINAL', cause: '',
        setpoint: 80, measurement: 80, bdSeq: 0, dependsOn: [], held: false, coreVersion: 'aaaaaaaaaaaaaaaa', modesSeen: new Set(['NOMINAL']) });
    }
  }

  agents(): AgentView[] { return [...this.views.values()]; }
  agent(key: string): AgentView { return this.views.get(key)!; }

  sendDeploy(key: string, moduleB64: string, signatureB64: string): TrackedCommand {
    expect(fromBase64(signatureB64)?.length).toBe(SIGNATURE_BYTES);
    expect(fromBase64(moduleB64)).not.toBeNull();
    return this.track('deploy', key);
  }

  sendRollback(key: string): TrackedCommand { return this.track('rollback', key); }

  private track(kind: 'deploy' | 'rollback', key: string): TrackedCommand {
    const cmd: TrackedCommand = { id: `c-${++this.n}`, target: key, kind, state: 'sent', sentMs: this.now, detail: '' };
    this.sent.push({ kind, key, cmd });
    return cmd;
  }

  /** One coordinator cycle later: agents answer, report, and unanswered commands time out. */
  advance(ms: number, version: string): void {
    this.now += ms;
    for (const { kind, key, cmd } of this.sent) {
      if (cmd.state !== 'sent') continue;
      const a = this.agent(key);
      const answer = this.answers.get(key) ?? 'ok';
      if (a.health === 'dead' || answer === 'ignore') {
        if (this.now - cmd.sentMs > 5000) { cmd.state = 'timeout'; cmd.detail = 'no acknowledgement within 5000 ms'; }
        continue;
      }
      if (kind === 'rollback') {
        cmd.state = 'acked'; cmd.detail = 'ok';
        a.coreVersion = this.previous.get(key) ?? a.coreVersion;
        a.mode = 'NOMINAL'; a.cause = '';
      } else if (answer === 'refuse') {
        cmd.state = 'rejected'; cmd.detail = 'rejected: deploy refused: signature: does not verify with the fleet public key';
      } else {
        cmd.state = 'acked'; cmd.detail = 'ok';
        if (answer === 'ok') { this.previous.set(key, a.coreVersion); a.coreVersion = version; }
      }
    }
    for (const a of this.views.values()) if (a.health === 'online' && !this.silent.has(a.key)) a.lastSeenMs = this.now;
  }

  deploysTo(): string[] { return this.sent.filter((s) => s.kind === 'deploy').map((s) => s.key); }
  rollbacksTo(): string[] { return this.sent.filter((s) => s.kind === 'rollback').map((s) => s.key); }
}

const GROUP = ['line1/gw1/loop1', 'line1/gw2/loop1', 'line1/gw3/loop1'];
const OUTSIDER = 'line2/gw1/loop1';
const MODULE = coreBytes();
const VERSION = moduleVersion(MODULE);

function rollout(coord: FakeCoordinator, extra: Partial<ConstructorParameters<typeof Rollout>[0]> = {}): Rollout {
  return new Rollout({ id: 'r1', group: 'line1', bytes: MODULE, signature: signed(MODULE), soakMs: 30_000, staleMs: 3000,
    clockMs: () => coord.now, confirmMs: 5000, ...extra }, coord);
}

/** Step the rollout every 500 ms of fake time for up to `ms` (or until it finishes); `each` runs before every step. */
function drive(r: Rollout, coord: FakeCoordinator, ms: number, each?: () => void): void {
  for (let t = 0; t < ms && !r.finished; t += 500) {
    coord.advance(500, VERSION);
    each?.();
    r.step();
  }
}

describe('Rollout (state machine, fake coordinator and clock)', () => {
  it('good canary: deploy, soak, then the rest of the group -> done; the other group is never addressed', () => {
    const coord = new FakeCoordinator([...GROUP, OUTSIDER]);
    const r = rollout(coord);
    expect(r.step()).toBe('canary');
    expect(r.view()).toMatchObject({ id: 'r1', group: 'line1', module: VERSION, phase: 'canary', canary: GROUP[0], soakUntilMs: null });
    expect(coord.deploysTo()).toEqual([GROUP[0]]);
    drive(r, coord, 1000);
    expect(r.phase).toBe('soak');
    const soakView = r.view();
    expect(soakView.soakUntilMs).toBe(coord.now + 30_000 - 500);
    expect(soakView.agents.find((a) => a.key === GROUP[0])).toMatchObject({ state: 'running' });
    drive(r, coord, 25_000);
    expect(r.phase, 'still soaking at 25 s').toBe('soak');
    expect(coord.deploysTo()).toEqual([GROUP[0]]);
    drive(r, coord, 20_000);
    expect(r.phase).toBe('done');
    expect(coord.deploysTo().sort()).toEqual([...GROUP].sort());
    expect(coord.rollbacksTo()).toEqual([]);
    expect(coord.agent(OUTSIDER).coreVersion).toBe('aaaaaaaaaaaaaaaa');
    const v = r.view();
    expect(v.agents.map((a) => [a.key, a.state])).toEqual(GROUP.map((k) => [k, 'running']));
    expect(v.reason).toBe(`3 agent(s) run ${VERSION}`);
    expect(v.soakUntilMs).toBeNull();
    const transitions = r.log.filter((l) => l.message.includes(' -> ')).map((l) => l.message.split(':')[0]);
    expect(transitions).toEqual(['canary -> soak', 'soak -> rollout', 'rollout -> done']);
    expect(r.log.every((l, i) => i === 0 || l.tMs >= r.log[i - 1].tMs)).toBe(true);
    expect(v.log).toEqual(r.log);
  });

  it('canary trips during the soak (FALLBACK, est_cusum) -> rollback to the canary only -> rolled_back with the reason', () => {
    const coord = new FakeCoordinator([...GROUP, OUTSIDER]);
    const r = rollout(coord);
    r.step();
    drive(r, coord, 1000);
    expect(r.phase).toBe('soak');
    // t = 10 s into the soak: the canary's model residual trips
    drive(r, coord, 10_000);
    coord.agent(GROUP[0]).mode = 'FALLBACK';
    coord.agent(GROUP[0]).cause = 'est_cusum/actuation';
    drive(r, coord, 500);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toBe(`canary ${GROUP[0]}: during the soak: its mode left NOMINAL: FALLBACK (cause est_cusum/actuation); rollback c-2 sent`);
    expect(coord.rollbacksTo()).toEqual([GROUP[0]]);
    expect(coord.deploysTo()).toEqual([GROUP[0]]);
    const v = r.view();
    expect(v.agents.find((a) => a.key === GROUP[0])?.state).toBe('rolled_back');
    expect(v.agents.filter((a) => a.key !== GROUP[0]).map((a) => [a.state, a.detail])).toEqual([['waiting', 'not sent: the canary failed'], ['waiting', 'not sent: the canary failed']]);
    // The rollback's acknowledgement is logged when it comes.
    coord.advance(500, VERSION);
    r.step();
    expect(r.log.at(-1)?.message).toBe(`rollback c-2 acknowledged by ${GROUP[0]}`);
    expect(v.agents.length).toBe(3);
  });

  it('a cause without a mode change is a breach too', () => {
    const coord = new FakeCoordinator(GROUP);
    const r = rollout(coord);
    drive(r, coord, 2000);
    coord.agent(GROUP[0]).cause = 'sens_spike/sensing';
    drive(r, coord, 500);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toMatch(/it reports a cause: sens_spike\/sensing/);
  });

  it('a trip that clears between two steps is still seen (the coordinator keeps the modes it saw)', () => {
    const coord = new FakeCoordinator(GROUP);
    coord.agent(GROUP[0]).modesSeen.add('SAFE_STOP'); // an old episode, before this rollout: not held against it
    const r = rollout(coord);
    drive(r, coord, 2000);
    expect(r.phase).toBe('soak');
    coord.agent(GROUP[0]).modesSeen.add('DEGRADED');
    drive(r, coord, 500);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toMatch(/its mode left NOMINAL and came back: it passed through DEGRADED/);
  });

  it('canary goes silent during the soak -> stale after staleMs -> rolled_back', () => {
    const coord = new FakeCoordinator(GROUP);
    const r = rollout(coord);
    drive(r, coord, 2000);
    expect(r.phase).toBe('soak');
    coord.silent.add(GROUP[0]);
    const silentFrom = coord.now;
    drive(r, coord, 2500);
    expect(r.phase, 'within staleMs').toBe('soak');
    drive(r, coord, 5000);
    expect(r.phase).toBe('rolled_back');
    expect(r.log.find((l) => l.message.startsWith('soak -> rolled_back'))!.tMs - silentFrom).toBeLessThanOrEqual(3500);
    expect(r.view().reason).toMatch(/during the soak: no data for 3500 ms \(limit 3000 ms\)/);
    expect(coord.rollbacksTo()).toEqual([GROUP[0]]);
  });

  it('canary dies during the soak -> rolled_back', () => {
    const coord = new FakeCoordinator(GROUP);
    const r = rollout(coord);
    drive(r, coord, 2000);
    coord.agent(GROUP[0]).health = 'dead';
    drive(r, coord, 500);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toMatch(/during the soak: it died/);
  });

  it('canary refuses the module (its gate) -> failed, no rollback needed, nobody else addressed', () => {
    const coord = new FakeCoordinator([...GROUP, OUTSIDER]);
    coord.answers.set(GROUP[0], 'refuse');
    const r = rollout(coord);
    drive(r, coord, 5000);
    expect(r.phase).toBe('failed');
    expect(r.view().reason).toBe(`canary ${GROUP[0]} refused the module: refused: rejected: deploy refused: signature: does not verify with the fleet public key; nothing to roll back`);
    expect(coord.rollbacksTo()).toEqual([]);
    expect(coord.deploysTo()).toEqual([GROUP[0]]);
    expect(r.view().agents.find((a) => a.key === GROUP[0])?.state).toBe('sent');
  });

  it('canary never acknowledges -> the deploy times out -> rollback (it may have installed it) -> rolled_back', () => {
    const coord = new FakeCoordinator(GROUP);
    coord.answers.set(GROUP[0], 'ignore');
    const r = rollout(coord);
    drive(r, coord, 10_000);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toMatch(/no acknowledgement \(no acknowledgement within 5000 ms\); rollback c-2 sent$/);
    expect(coord.rollbacksTo()).toEqual([GROUP[0]]);
  });

  it('canary acknowledges but never reports the new core_version -> rolled_back after confirmMs', () => {
    const coord = new FakeCoordinator(GROUP);
    coord.answers.set(GROUP[0], 'ack-only');
    const r = rollout(coord);
    drive(r, coord, 4000);
    expect(r.phase).toBe('canary');
    expect(r.view().agents[0].detail).toBe(`acknowledged; waiting for core_version ${VERSION}`);
    drive(r, coord, 4000);
    expect(r.phase).toBe('rolled_back');
    expect(r.view().reason).toMatch(/reports core_version 'aaaaaaaaaaaaaaaa' instead of [0-9a-f]{16} after 5000 ms/);
  });

  it('takes the canary it is given, in the group only', () => {
    const coord = new FakeCoordinator([...GROUP, OUTSIDER]);
    const r = rollout(coord, { canary: GROUP[2] });
    r.step();
    expect(coord.deploysTo()).toEqual([GROUP[2]]);
    expect(r.view().canary).toBe(GROUP[2]);
    expect(() => rollout(coord, { canary: OUTSIDER })).toThrow(/^rollout: canary: expected an agent key in group 'line1'/);
  });

  it('skips agents that are not online or not NOMINAL when it picks the canary; the offline one is not sent to', () => {
    const coord = new FakeCoordinator(GROUP);
    coord.agent(GROUP[0]).health = 'dead';
    coord.agent(GROUP[1]).mode = 'DEGRADED';
    const r = rollout(coord);
    r.step();
    expect(r.view().canary).toBe(GROUP[2]);
    coord.agent(GROUP[1]).mode = 'NOMINAL';
    drive(r, coord, 60_000);
    expect(r.phase).toBe('done');
    expect(coord.deploysTo()).toEqual([GROUP[2], GROUP[1]]);
    expect(r.view().agents.find((a) => a.key === GROUP[0])).toEqual({ key: GROUP[0], state: 'failed', detail: 'not online at the start (dead)' });
    expect(r.view().reason).toBe(`2 agent(s) run ${VERSION}; 1 not online at the start keep their core`);
  });

  it('no online agent in the group -> failed after confirmMs, nothing sent', () => {
    const coord = new FakeCoordinator([OUTSIDER]);
    const r = rollout(coord);
    drive(r, coord, 4000);
    expect(r.phase).toBe('canary');
    drive(r, coord, 4000);
    expect(r.phase).toBe('failed');
    expect(r.view().reason).toBe("no online NOMINAL agent in group 'line1' after 5000 ms; nothing sent");
    expect(coord.sent).toEqual([]);
  });

  it('in batches: one at a time after the soak; a refusal stops the rollout and the rest are not sent', () => {
    const keys = [...GROUP, 'line1/gw4/loop1'];
    const coord = new FakeCoordinator(keys);
    coord.answers.set(keys[2], 'refuse');
    const r = rollout(coord, { batchSize: 1 });
    drive(r, coord, 60_000);
    expect(r.phase).toBe('failed');
    expect(coord.deploysTo()).toEqual([keys[0], keys[1], keys[2]]);
    const v = r.view();
    expect(v.agents.map((a) => a.state)).toEqual(['running', 'running', 'failed', 'waiting']);
    expect(v.agents[3].detail).toBe('not sent: the rollout stopped');
    expect(v.reason).toMatch(new RegExp(`^1 agent\\(s\\) did not take ${VERSION} \\(${keys[2]}: refused: .*\\); 1 not sent$`));
    expect(coord.rollbacksTo(), 'a refused module never ran: nothing to roll back').toEqual([]);
  });

  it('checks its options, and the module against the fleet key when given one', () => {
    const coord = new FakeCoordinator(GROUP);
    expect(() => rollout(coord, { signature: new Uint8Array(10) })).toThrow('rollout: signature: expected a 72-byte signature (the release and the Ed25519 signature), received "10 bytes"');
    expect(() => rollout(coord, { soakMs: -1 })).toThrow(/^rollout: soakMs/);
    expect(() => rollout(coord, { group: 'a/b' })).toThrow(/^rollout: group/);
    expect(() => rollout(coord, { batchSize: 0 })).toThrow(/^rollout: batchSize/);
    expect(() => rollout(coord, { publicKey: other.publicKeyPem })).toThrow(DeployError);
    expect(() => rollout(coord, { publicKey: fleet.publicKeyPem })).not.toThrow();
    // A module over the limit (which is what keeps its base64 inside one MQTT payload).
    const big = new Uint8Array(MODULE_MAX_BYTES + 1);
    expect(() => rollout(coord, { bytes: big, signature: signed(big) })).toThrow(/^rollout: bytes: expected a module of/);
  });

  it('a send that throws (payload, connection) fails the canary without a rollback', () => {
    const coord = new FakeCoordinator(GROUP);
    const transport: RolloutTransport = {
      agents: () => coord.agents(),
      sendDeploy: () => { throw new Error('not connected'); },
      sendRollback: (k) => coord.sendRollback(k),
    };
    const r = new Rollout({ id: 'r2', group: 'line1', bytes: MODULE, signature: signed(MODULE), soakMs: 1000, staleMs: 3000, clockMs: () => coord.now }, transport);
    r.step();
    coord.advance(500, VERSION);
    r.step();
    expect(r.phase).toBe('failed');
    expect(r.view().reason).toBe(`canary ${GROUP[0]} refused the module: could not send: not connected; nothing to roll back`);
  });
});
