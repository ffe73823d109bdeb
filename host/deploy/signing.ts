// Module signing for core deployment: Ed25519 (node:crypto), one fleet key.
// The private key stays with whoever builds and releases cores (the CLI's
// `edgeloop sign` / `edgeloop deploy --key`); every agent holds only the
// public key and refuses a module whose signature does not verify with it
// (host/deploy/module.ts checks that before it parses a byte of the module).
//
// A signature covers the module and its release: a positive integer that
// only grows from one release to the next (by default the signing time in
// ms), so that an agent can refuse a module older than the one it runs: an
// old module with its old signature, replayed, is a downgrade. What is
// signed is SIGNED_PREFIX, the release (8 bytes, big-endian) and the
// module's sha256; the signature blob is the release followed by the 64
// Ed25519 signature bytes (RELEASE_BYTES + ED25519_BYTES = SIGNATURE_BYTES).
//
// Files: keys are PEM (SPKI public, PKCS#8 private, unencrypted); a module's
// detached signature sits next to it as `<module>.sig` (core.wasm.sig), the
// signature blob in base64 on one line.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Bytes of the release that leads a signature blob. */
export const RELEASE_BYTES = 8;
/** Bytes of an Ed25519 signature (RFC 8032). */
export const ED25519_BYTES = 64;
/** Bytes of a signature blob: the release, then the Ed25519 signature over it and the module. */
export const SIGNATURE_BYTES = RELEASE_BYTES + ED25519_BYTES;
/** What is signed starts with this (so that the key signs nothing else by accident). */
const SIGNED_PREFIX = Buffer.from('edgeloop core release\0', 'latin1');
/** The largest release (an integer that fits the 8 bytes exactly, and a JS number). */
export const RELEASE_MAX = Number.MAX_SAFE_INTEGER;
/** A module's detached signature file is the module's path plus this. */
export const SIGNATURE_SUFFIX = '.sig';

export interface FleetKey {
  publicKeyPem: string;
  privateKeyPem: string;
}

/** A key given as a KeyObject or as PEM text. */
export type KeyInput = KeyObject | string;

/** A key or signature file that cannot be used: names the file, what was expected and what was found. */
export class KeyError extends Error {
  constructor(readonly path: string, readonly expected: string, readonly received: string) {
    super(`${path}: expected ${expected}, found ${received}`);
    this.name = 'KeyError';
  }
}

/** A new fleet key pair, as PEM (SPKI public key, PKCS#8 private key). */
export function generateFleetKey(): FleetKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * Write a fleet key to two files: the private key readable by its owner only
 * (0600). Refuses to overwrite either file (a lost fleet key strands every
 * agent that trusts it).
 */
export function saveFleetKey(key: FleetKey, paths: { privatePath: string; publicPath: string }): void {
  // Both checked first: a new private key beside an old public one would be half a key pair.
  for (const path of [paths.privatePath, paths.publicPath]) {
    if (existsSync(path)) {
      throw new KeyError(path, 'no file there (a fleet key is never overwritten)', 'one already (EEXIST): keep it, or move it away to make a new key');
    }
  }
  writeFileSync(paths.privatePath, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  try {
    writeFileSync(paths.publicPath, key.publicKeyPem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    rmSync(paths.privatePath, { force: true });   // the private key this call wrote, alone: no pair
    throw err;
  }
}

function ed25519(key: KeyObject, source: string, kind: 'public' | 'private'): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError(source, `an Ed25519 ${kind} key`, `a ${key.asymmetricKeyType ?? 'symmetric'} key`);
  }
  return key;
}

function publicKeyOf(key: KeyInput, source = 'public key'): KeyObject {
  if (typeof key !== 'string') {
    if (key.type !== 'public') throw new KeyError(source, 'an Ed25519 public key', `a ${key.type} key`);
    return ed25519(key, source, 'public');
  }
  if (key.includes('PRIVATE KEY')) {
    // createPublicKey would derive the public half, but an agent must never be handed the signing key.
    throw new KeyError(source, "a PEM public key ('-----BEGIN PUBLIC KEY-----')", 'a private key: agents hold only the public key');
  }
  let k: KeyObject;
  try {
    k = createPublicKey(key);
  } catch (err) {
    throw new KeyError(source, "a PEM Ed25519 public key ('-----BEGIN PUBLIC KEY-----')", `something else (${(err as Error).message})`);
  }
  return ed25519(k, source, 'public');
}

function privateKeyOf(key: KeyInput, source = 'private key'): KeyObject {
  if (typeof key !== 'string') {
    if (key.type !== 'private') throw new KeyError(source, 'an Ed25519 private key', `a ${key.type} key`);
    return ed25519(key, source, 'private');
  }
  if (key.includes('ENCRYPTED PRIVATE KEY')) {
    throw new KeyError(source, 'an unencrypted PEM Ed25519 private key', 'an encrypted key (passphrases are not supported)');
  }
  let k: KeyObject;
  try {
    k = createPrivateKey(key);
  } catch (err) {
    throw new KeyError(source, "a PEM Ed25519 private key ('-----BEGIN PRIVATE KEY-----')", `something else (${(err as Error).message})`);
  }
  return ed25519(k, source, 'private');
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyError(path, what, `no readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The fleet's public key from a PEM file; a KeyError names the file and says what it should hold. */
export function loadPublicKey(path: string): KeyObject {
  return publicKeyOf(readText(path, 'a PEM Ed25519 public key file'), path);
}

/** The fleet's private (signing) key from a PEM file; a KeyError names the file and says what it should hold. */
export function loadPrivateKey(path: string): KeyObject {
  return privateKeyOf(readText(path, 'a PEM Ed25519 private key file'), path);
}

let lastDefaultRelease = 0;
/** The default release: the time in ms, and always more than the last one this process gave. */
function defaultRelease(): number {
  lastDefaultRelease = Math.max(Date.now(), lastDefaultRelease + 1);
  return lastDefaultRelease;
}

/** What the key signs for a module and its release. */
function signedMessage(bytes: Uint8Array, release: number): Buffer {
  const r = Buffer.alloc(RELEASE_BYTES);
  r.writeBigUInt64BE(BigInt(release));
  return Buffer.concat([SIGNED_PREFIX, r, createHash('sha256').update(bytes).digest()]);
}

/**
 * Sign a module's bytes with its release (a positive integer, larger than
 * every earlier release of the fleet's cores; default: now in ms): the
 * SIGNATURE_BYTES-byte signature blob.
 */
export function signModule(bytes: Uint8Array, privateKey: KeyInput, release: number = defaultRelease()): Uint8Array {
  if (!Number.isSafeInteger(release) || release < 1) throw new RangeError(`release: expected an integer 1..${RELEASE_MAX}, received ${String(release)}`);
  const sig = sign(null, signedMessage(bytes, release), privateKeyOf(privateKey));
  const out = new Uint8Array(SIGNATURE_BYTES);
  new DataView(out.buffer).setBigUint64(0, BigInt(release));
  out.set(sig, RELEASE_BYTES);
  return out;
}

/** The release a signature blob carries (not yet verified), or null for a blob of the wrong size or an out-of-range release. */
export function signatureRelease(signature: Uint8Array): number | null {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return null;
  const r = new DataView(signature.buffer, signature.byteOffset, signature.byteLength).getBigUint64(0);
  return r >= 1n && r <= BigInt(RELEASE_MAX) ? Number(r) : null;
}

/**
 * Whether `signature` is the fleet key's signature of exactly these bytes
 * and the release it carries. False for a blob of the wrong length or by
 * another key; a key that is not an Ed25519 public key is a configuration
 * error and throws KeyError.
 */
export function verifyModule(bytes: Uint8Array, signature: Uint8Array, publicKey: KeyInput): boolean {
  const key = publicKeyOf(publicKey);
  const release = signatureRelease(signature);
  if (release === null) return false;
  return verify(null, signedMessage(bytes, release), key, signature.subarray(RELEASE_BYTES));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes as base64 (standard alphabet, padded). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Strict base64 (standard alphabet, padded, no whitespace) to bytes, or null when it is not. */
export function fromBase64(text: string): Uint8Array | null {
  if (typeof text !== 'string' || !BASE64.test(text)) return null;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Where a module's detached signature lives: `<module>.sig`. */
export function signaturePath(modulePath: string): string {
  return modulePath + SIGNATURE_SUFFIX;
}

/** Write a module's detached signature (base64, one line) next to it; returns the path written. */
export function writeSignatureFile(modulePath: string, signature: Uint8Array): string {
  const path = signaturePath(modulePath);
  writeFileSync(path, toBase64(signature) + '\n');
  return path;
}

/** Read a detached signature file (`path`, or `<module>.sig` given the module's path with `{ forModule: true }`). */
export function readSignatureFile(path: string, opts: { forModule?: boolean } = {}): Uint8Array {
  const file = opts.forModule ? signaturePath(path) : path;
  const what = `a base64 edgeloop signature (${SIGNATURE_BYTES} bytes: the release and the Ed25519 signature; edgeloop sign writes it)`;
  const text = readText(file, what).trim();
  const sig = fromBase64(text);
  if (!sig) throw new KeyError(file, what, 'text that is not base64');
  if (sig.length === ED25519_BYTES) throw new KeyError(file, what, `${sig.length} bytes: a signature of the module alone, from before releases were signed; sign it again`);
  if (sig.length !== SIGNATURE_BYTES) throw new KeyError(file, what, `${sig.length} bytes`);
  if (signatureRelease(sig) === null) throw new KeyError(file, what, 'a release of 0 or out of range');
  return sig;
}
