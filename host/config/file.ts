// Configuration files for the parts that run on a gateway (`edgeloop agent
// --config`, `coordinator --config`, `dashboard --config`, `broker
// --config`): YAML (JSON is YAML too), checked against a schema before
// anything starts. A bad file gets every problem at once, each naming its
// field by path and saying what was expected (host/schema-issues.ts).
//
// Secrets never have to be on a command line, where `ps` shows them: a
// password comes from a file (`passwordFile`, the first line) or an
// environment variable (`passwordEnv`, default EDGELOOP_PASSWORD).

import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { SchemaError, schemaIssues } from '../schema-issues.js';

/** A configuration file larger than this is refused before it is parsed. */
export const CONFIG_BYTES_MAX = 1 << 20;

/** The environment variable a password is read from when the file names none. */
export const PASSWORD_ENV = 'EDGELOOP_PASSWORD';

/** A configuration file that cannot be used: unreadable, not YAML, or not what its schema asks. */
export class ConfigError extends SchemaError {}

/** The file's text, refused when it is missing, not a file, or too large to be a configuration. */
function readText(path: string): string {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new ConfigError(path, 'configuration', [{ path: '(file)', message: `cannot read it: ${(err as Error).message}` }]);
  }
  if (size > CONFIG_BYTES_MAX) {
    throw new ConfigError(path, 'configuration', [{ path: '(file)', message: `expected at most ${CONFIG_BYTES_MAX} bytes, the file has ${size}` }]);
  }
  return readFileSync(path, 'utf8');
}

/** The YAML (or JSON) document in `text`; syntax errors name their line and column. */
export function parseConfigText(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, 'configuration', doc.errors.slice(0, 5).map((e) => ({
      path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(file)',
      message: e.message.split('\n')[0],
    })));
  }
  // Aliases bounded: a few lines of YAML must not expand into gigabytes.
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(source, 'configuration', [{ path: '(file)', message: `not expanded: ${(err as Error).message} (at most 100 alias expansions)` }]);
  }
}

/** A configuration file parsed and checked against `schema`; relative paths in it are resolved by the caller with `fromFile`. */
export function loadConfigFile<S extends z.ZodType>(path: string, schema: S, what: string): z.output<S> {
  const value = parseConfigText(readText(path), path);
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(path, what, schemaIssues(r.error, value, { secret: ['password'] }));
  return r.data;
}

/** A path written in a configuration file, relative to the file's own directory. */
export function fromFile(configPath: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(configPath), p);
}

/**
 * A section that may be left empty: YAML reads a key whose lines are all
 * commented out as null, which means the same as leaving the key out.
 */
export function section<S extends z.ZodType>(schema: S) {
  return z.preprocess((v) => (v === null ? undefined : v), schema);
}

/** Where a password may come from in a configuration file. */
export const SecretSchema = z.strictObject({
  passwordFile: z.string({ error: 'expected the path of a file whose first line is the password' }).min(1).optional(),
  passwordEnv: z.string({ error: 'expected the name of an environment variable' })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name (letters, digits, _)' }).optional(),
});

/** The MQTT connection as a configuration file gives it. */
export const BrokerLoginSchema = z.strictObject({
  url: z.string({ error: 'expected the broker URL, e.g. mqtt://127.0.0.1:1883' }).refine(isBrokerUrl, {
    error: 'expected a broker URL with mqtt://, mqtts://, ws:// or wss://, e.g. mqtt://127.0.0.1:1883',
  }),
  username: z.string({ error: 'expected the MQTT username' }).min(1).optional(),
  ...SecretSchema.shape,
}).refine((b) => !(b.passwordFile && b.passwordEnv), { error: 'give passwordFile or passwordEnv, not both', path: ['passwordFile'] });

export type BrokerLogin = z.output<typeof BrokerLoginSchema>;

export function isBrokerUrl(value: string): boolean {
  try {
    return ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * The password a configuration names: the first line of `passwordFile`
 * (relative to the configuration file), or the environment variable
 * `passwordEnv`; with neither, EDGELOOP_PASSWORD if it is set and a username
 * is given. An error
 * names the field when the file or the variable is missing.
 */
export function resolvePassword(secret: { passwordFile?: string; passwordEnv?: string; username?: string }, configPath: string, field: string,
  env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (secret.passwordFile) {
    const file = fromFile(configPath, secret.passwordFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(configPath, 'configuration', [{ path: `${field}.passwordFile`, message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
    const pw = text.split(/\r?\n/)[0];
    if (!pw) throw new ConfigError(configPath, 'configuration', [{ path: `${field}.passwordFile`, message: `expected the password on the first line of ${file}, found an empty line` }]);
    return pw;
  }
  if (secret.passwordEnv) {
    const pw = env[secret.passwordEnv];
    if (!pw) throw new ConfigError(configPath, 'configuration', [{ path: `${field}.passwordEnv`, message: `expected the environment variable ${secret.passwordEnv} to hold the password; it is not set` }]);
    return pw;
  }
  // Only with a username: MQTT sends no password without one, and the log-in would fail without a word.
  return secret.username !== undefined ? env[PASSWORD_ENV] || undefined : undefined;
}

/** A password for a command line without a configuration file: --password-file, else EDGELOOP_PASSWORD. */
export function passwordFromFlags(opts: { password?: string; passwordFile?: string; username?: string }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.password !== undefined) return opts.password;
  if (opts.passwordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.passwordFile, 'utf8');
    } catch (err) {
      throw new Error(`--password-file: cannot read ${opts.passwordFile}: ${(err as Error).message}`);
    }
    const pw = text.split(/\r?\n/)[0];
    if (!pw) throw new Error(`--password-file: expected the password on the first line of ${opts.passwordFile}, found an empty line`);
    return pw;
  }
  return opts.username !== undefined ? env[PASSWORD_ENV] || undefined : undefined;
}
