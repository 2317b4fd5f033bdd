// JSON Canonicalization Scheme (RFC 8785) via the `canonicalize` package,
// plus the SPEC §2 rule that signed numbers are safe integers.
import canonicalize from 'canonicalize';

export class UnsafeNumberError extends Error {
  constructor() {
    super('unsafe_number');
  }
}

function assertSafeNumbers(value: unknown): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new UnsafeNumberError();
  } else if (Array.isArray(value)) {
    value.forEach(assertSafeNumbers);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) assertSafeNumbers(v);
  }
}

/** Canonical JSON text of `value`. Throws on floats / unsafe integers. */
export function jcs(value: unknown): string {
  assertSafeNumbers(value);
  const out = canonicalize(value);
  if (out === undefined) throw new Error('value is not JSON-serialisable');
  return out;
}

export function jcsBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(jcs(value));
}
