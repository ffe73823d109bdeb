// One way to report what a zod schema refused, for every file users hand us
// (scenario files, broker users files): each issue names its field by path,
// says what was expected, and quotes what was received unless it is secret
// or not a plain value.

import type { z } from 'zod';

export interface SchemaIssue {
  path: string;
  message: string;
  received?: unknown;
}

/** An input that failed its schema: every issue, each naming its field. */
export class SchemaError extends Error {
  constructor(readonly source: string, what: string, readonly issues: readonly SchemaIssue[]) {
    super(`${source}: invalid ${what}\n${issues.map((i) => `  - ${i.path}: ${i.message}` +
      (i.received !== undefined ? ` (received ${quoted(i.received)})` : '')).join('\n')}`);
  }
}

/** The most characters of a received value an error message quotes. */
export const QUOTE_CHARS_MAX = 120;

/** A received value as an error quotes it: JSON, cut to QUOTE_CHARS_MAX with the full length named. */
function quoted(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length <= QUOTE_CHARS_MAX ? s : `${s.slice(0, QUOTE_CHARS_MAX)}... (${s.length} characters)`;
}

function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** The issues of a failed parse of `value`; fields named in `secret` are never quoted. */
export function schemaIssues(error: z.ZodError, value: unknown, opts: { secret?: readonly string[] } = {}): SchemaIssue[] {
  return error.issues.map((i) => {
    const path = i.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '') || '(root)';
    const hidden = i.code === 'unrecognized_keys' || i.code === 'custom' || i.path.some((k) => opts.secret?.includes(String(k)));
    const received = hidden ? undefined : at(value, i.path);
    return { path, message: i.message, received: typeof received === 'object' && received !== null ? undefined : received };
  });
}
