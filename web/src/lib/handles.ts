// What the user types as a handle or KEZ → the canonical form (SPEC §3).
// Handles are lower case on the wire and the server never folds them (a
// registration of `Alice` is `invalid_handle`, a lookup of `/v1/u/Alice` is
// 404): the client folds what people type, before signing or looking up.

/**
 * `Alice`, ` @Alice@Kez.Lat ` → `alice`, `alice@kez.lat`: trimmed, one leading
 * `@` dropped, ASCII `A`–`Z` lower-cased. Only ASCII: Unicode case mapping
 * would turn look-alikes into valid handles (the Kelvin sign `K`, U+212A,
 * lower-cases to `k`), so anything non-ASCII stays and is refused as before.
 */
export function foldKez(input: string): string {
  return input
    .trim()
    .replace(/^@/, '')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}
