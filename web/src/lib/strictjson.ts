// A strict JSON reader for signed documents fetched from another server
// (SPEC §15.2: readers trust the server for availability only). It reads
// what kez-core's `json::parse_strict` + `ensure_safe_numbers` read:
// `JSON.parse` would keep the last of two duplicate keys and turn `1.0` or
// `1e0` into `1`, so a link Rust refuses would verify here.

/** Why {@link parseStrictJson} refused: `invalid_json` (syntax, duplicate key, lone surrogate) or `unsafe_number` (a fraction, an exponent, |n| > 2^53−1). */
export class StrictJsonError extends Error {
  constructor(readonly code: 'invalid_json' | 'unsafe_number') {
    super(code);
  }
}

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Parses `text` as one JSON value: no duplicate object keys, no lone
 * surrogates, numbers only as integers within ±(2^53−1) (no fraction or
 * exponent, even `1.0`). Throws a {@link StrictJsonError}.
 */
export function parseStrictJson(text: string): unknown {
  let at = 0;
  const fail = (): never => {
    throw new StrictJsonError('invalid_json');
  };
  const match = (re: RegExp): string | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    at = re.lastIndex;
    return m[0];
  };
  const ws = () => match(WS);
  const eat = (c: string): boolean => (text[at] === c ? (at++, true) : false);
  const string = (): string => {
    const s = JSON.parse(match(STRING) ?? fail()) as string;
    if (LONE_SURROGATE.test(s)) fail();
    return s;
  };
  const value = (depth: number): unknown => {
    if (depth > 128) fail();
    ws();
    const c = text[at];
    if (c === '{') return object(depth);
    if (c === '[') return array(depth);
    if (c === '"') return string();
    const lit = match(LITERAL);
    if (lit !== null) return JSON.parse(lit);
    const num = match(NUMBER) ?? fail();
    const n = Number(num);
    if (/[.eE]/.test(num) || !Number.isSafeInteger(n)) throw new StrictJsonError('unsafe_number');
    return n;
  };
  const object = (depth: number): Record<string, unknown> => {
    at++;
    const out: Record<string, unknown> = Object.create(null);
    ws();
    if (eat('}')) return out;
    do {
      ws();
      const key = string();
      if (Object.hasOwn(out, key)) fail();
      ws();
      if (!eat(':')) fail();
      out[key] = value(depth + 1);
      ws();
    } while (eat(','));
    if (!eat('}')) fail();
    return out;
  };
  const array = (depth: number): unknown[] => {
    at++;
    const out: unknown[] = [];
    ws();
    if (eat(']')) return out;
    do {
      out.push(value(depth + 1));
      ws();
    } while (eat(','));
    if (!eat(']')) fail();
    return out;
  };
  const v = value(0);
  ws();
  if (at !== text.length) fail();
  return v;
}
