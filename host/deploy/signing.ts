// Module signing for core deployment: Ed25519 (node:crypto), one fleet key.
// The private key stays with whoever builds and releases cores (the CLI's
// `edgeloop sign` / `edgeloop deploy --key`); every agent holds only the
// public key and refuses a module whose signature does not verify with it
// (host/deploy/module.ts checks that before it parses a byte of the module).
//
// Files: keys are PEM (SPKI public, PKCS#8 private, unencrypted); a module's
// detached signature sits next to it as `<module>.sig` (core.wasm.sig), the
// 64 signature bytes in base64 on one line.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

/** Bytes of an Ed25519 signature (RFC 8032). */
export const SIGNATURE_BYTES = 64;
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
  writeFileSync(paths.privatePath, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(paths.publicPath, key.publicKeyPem, { mode: 0o644, flag: 'wx' });
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

/** Sign a module's bytes: the 64-byte Ed25519 signature. */
export function signModule(bytes: Uint8Array, privateKey: KeyInput): Uint8Array {
  return new Uint8Array(sign(null, bytes, privateKeyOf(privateKey)));
}

/**
 * Whether `signature` is the fleet key's signature of exactly these bytes.
 * False for a signature of the wrong length or by another key; a key that is
 * not an Ed25519 public key is a configuration error and throws KeyError.
 */
export function verifyModule(bytes: Uint8Array, signature: Uint8Array, publicKey: KeyInput): boolean {
  const key = publicKeyOf(publicKey);
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false;
  return verify(null, bytes, key, signature);
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
  const text = readText(file, `a base64 Ed25519 signature (${SIGNATURE_BYTES} bytes; edgeloop sign writes it)`).trim();
  const sig = fromBase64(text);
  if (!sig) throw new KeyError(file, `a base64 Ed25519 signature (${SIGNATURE_BYTES} bytes)`, 'text that is not base64');
  if (sig.length !== SIGNATURE_BYTES) throw new KeyError(file, `a base64 Ed25519 signature (${SIGNATURE_BYTES} bytes)`, `${sig.length} bytes`);
  return sig;
}
