// The gate a deployed module passes before an agent instantiates it, in this
// order, cheapest and most decisive first:
//   1. size: at most MODULE_MAX_BYTES (a length compare, so that the work
//      below is bounded);
//   2. signature: present, and verifying with the fleet public key. This
//      comes before anything reads the module's contents: bytes nobody
//      signed never reach a parser or an engine;
//   3. the ABI (host/runtime/validate.ts, the same gate every module passes):
//      a valid WebAssembly binary, no imports, exactly the ABI's exports;
//   4. compilation (V8).
// Any refusal is a DeployError naming the field ('module' or 'signature')
// and the reason, and nothing has been instantiated.

import { createHash } from 'node:crypto';
import { compileCoreModule, InvalidCoreModule } from '../runtime/core.js';
import { SIGNATURE_BYTES, signatureRelease, verifyModule, type KeyInput } from './signing.js';

/**
 * The largest module the gate accepts (build/core.wasm is about 16 KB): 44
 * KiB, so that its base64 (60,076 characters) and the rest of a DCMD fit
 * in one 64 KiB payload (PAYLOAD_MAX_BYTES in host/mqtt/codec.ts).
 */
export const MODULE_MAX_BYTES = 44 * 1024;
/** Hex characters of the sha256 that name a module version (what agents report as core_version). */
export const VERSION_HEX_CHARS = 16;
/** The version an agent reports while it runs a core it was not given the bytes of. */
export const BUILTIN_VERSION = 'builtin';

/** A module refused by the gate: `field` is 'module' or 'signature', `reason` says why. */
export class DeployError extends Error {
  constructor(readonly field: 'module' | 'signature', readonly reason: string) {
    super(`deploy refused: ${field}: ${reason}`);
    this.name = 'DeployError';
  }
}

/** The full sha256 of a module, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A module's version: the first VERSION_HEX_CHARS hex characters of its sha256. */
export function moduleVersion(bytes: Uint8Array): string {
  return sha256Hex(bytes).slice(0, VERSION_HEX_CHARS);
}

export interface AcceptedModule {
  /** Compiled, not instantiated. */
  module: WebAssembly.Module;
  /** Full sha256, hex. */
  sha256: string;
  /** The sha256 prefix agents report (core_version). */
  version: string;
  /** The signed release: an agent runs only a newer one (CoreSlot.install). */
  release: number;
}

/** Gate a module (see the top of this file); throws DeployError, or returns it compiled. */
export function acceptModule(bytes: Uint8Array, signature: Uint8Array | null, publicKey: KeyInput): AcceptedModule {
  if (!(bytes instanceof Uint8Array)) throw new DeployError('module', `expected the module's bytes, received ${typeof bytes}`);
  if (bytes.length > MODULE_MAX_BYTES) {
    throw new DeployError('module', `${bytes.length} bytes is over the ${MODULE_MAX_BYTES}-byte module limit`);
  }
  if (signature === null || signature === undefined) {
    throw new DeployError('signature', 'missing: every module must carry an Ed25519 signature by the fleet key (edgeloop sign)');
  }
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
    const got = signature instanceof Uint8Array ? `${signature.length} bytes` : typeof signature;
    throw new DeployError('signature', `expected a ${SIGNATURE_BYTES}-byte signature (the release and the Ed25519 signature, edgeloop sign), received ${got}`);
  }
  const release = signatureRelease(signature);
  if (release === null) throw new DeployError('signature', 'carries a release of 0 or out of range');
  if (!verifyModule(bytes, signature, publicKey)) {
    throw new DeployError('signature', 'does not verify with the fleet public key (signed by another key, or the module or its release changed after signing)');
  }
  let module: WebAssembly.Module;
  try {
    module = compileCoreModule(bytes);
  } catch (err) {
    if (err instanceof InvalidCoreModule) throw new DeployError('module', err.reason);
    throw new DeployError('module', `does not compile: ${(err as Error).message}`);
  }
  const sha256 = sha256Hex(bytes);
  return { module, sha256, version: sha256.slice(0, VERSION_HEX_CHARS), release };
}
