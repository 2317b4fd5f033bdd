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

/** Offsets smaller than this are left alone: the `Date` header has 1 s resolution. */
export const CLOCK_TRUST_MS = 60_000;

/**
 * The device clock corrected towards the server's (SPEC §7.2 allows ±300 s
 * for auth `ts`, and recipients drop far-future `sent_at`). The offset comes
 * from the HTTP `Date` header of API responses; small differences are noise
 * and ignored, so a correctly set device keeps using its own clock.
 */
export class ServerClock {
  #offsetMs = 0;

  constructor(private readonly local: () => number = () => Date.now()) {}

  /** Milliseconds to add to the device clock (0 unless it looked > 60 s off). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /**
   * Learn from a response's `Date` header. `sentAt`/`receivedAt` are the
   * device times around the request; the header was written in between.
   */
  observe(dateHeader: string | null, sentAt: number, receivedAt: number = sentAt): void {
    if (!dateHeader) return;
    const server = Date.parse(dateHeader);
    if (Number.isNaN(server)) return;
    // The header is truncated to the second: its middle is the best guess.
    const offset = server + 500 - (sentAt + receivedAt) / 2;
    this.#offsetMs = Math.abs(offset) > CLOCK_TRUST_MS ? Math.round(offset) : 0;
  }

  now(): Date {
    return new Date(this.local() + this.#offsetMs);
  }
}
