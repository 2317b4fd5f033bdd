/** RFC 3339 UTC with whole seconds and a `Z` suffix (SPEC conventions). */
export function rfc3339(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** Parse an RFC 3339 timestamp to epoch milliseconds, or NaN. */
export function parseRfc3339(s: string): number {
  if (typeof s !== 'string' || !RFC3339_RE.test(s)) return NaN;
  return Date.parse(s);
}

export function unixSeconds(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}
