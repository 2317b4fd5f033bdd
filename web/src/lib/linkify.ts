// Clickable links in message bubbles (issue 13): a message's text cut into
// plain parts and http(s) links. Only `http://` and `https://` URLs that the
// WHATWG URL parser accepts become links; everything else (javascript:,
// data:, vbscript:, file:, bare domains) stays text. The UI builds one text
// node or <a> per part (never {@html}), so nothing in a message is markup.

/**
 * One part of a message's text: plain text, or a link with the exact text it
 * came from; `host` is set when the host is internationalized: its punycode
 * (what the browser will really open), shown next to the link so a
 * lookalike (Cyrillic "а" in "exаmple.com") cannot pass for the real one.
 */
export type Part = { text: string; href?: undefined; host?: undefined } | { text: string; href: string; host?: string };

/** Longest URL turned into a link, in UTF-16 units (longer ones stay text). */
export const MAX_URL_LENGTH = 2048;
/** At most this many links per message; the rest stays text (bounded work on a huge paste). */
export const MAX_LINKS = 50;

// A scheme at a word start (not inside another URL such as `blob:https://…`), then anything up to whitespace or a character that
// never belongs in a URL typed in a chat (angle brackets, quotes, backticks).
const CANDIDATE = /(?<![\p{L}\p{N}_:/.@+-])https?:\/\/[^\s<>"'`\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+/giu;
// Punctuation that ends a sentence rather than the URL.
const TRAILING = /[.,;:!?…。、'"»”’]$/u;
const PAIRS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

/**
 * A candidate URL without what follows it in a sentence: trailing
 * punctuation, and a closing bracket that has no opening one inside the URL
 * ("(see https://x.org/a)" keeps "https://x.org/a", but
 * "https://en.wikipedia.org/wiki/Foo_(bar)" keeps its bracket).
 */
export function trimTrailing(url: string): string {
  let u = url;
  for (;;) {
    const last = u.slice(-1);
    if (TRAILING.test(last)) {
      u = u.slice(0, -1);
      continue;
    }
    const open = PAIRS[last];
    if (open && count(u, last) > count(u, open)) {
      u = u.slice(0, -1);
      continue;
    }
    return u;
  }
}

/**
 * The href for `raw` if it is a link worth making: parsed by the URL parser,
 * scheme http or https, with a host, and no user name or password (in
 * "https://paypal.com@evil.example/" the host is evil.example: such URLs
 * stay text). Null otherwise.
 */
export function safeHref(raw: string): string | null {
  return parseLink(raw)?.href ?? null;
}

function parseLink(raw: string): URL | null {
  if (raw.length > MAX_URL_LENGTH) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) return null;
  if (u.username || u.password) return null;
  return u;
}

/** The punycode host of an internationalized host (a label starting `xn--`), else undefined. */
export function idnHost(u: URL): string | undefined {
  return u.hostname.split('.').some((l) => l.startsWith('xn--')) ? u.hostname : undefined;
}

/** Whether `text` may hold a link (cheap; the UI keeps other texts one plain text node). */
export function mayHaveLink(text: string): boolean {
  return /https?:\/\//i.test(text);
}

/** `text` cut into plain parts and links, in order; joining every part's `text` gives `text` back. */
export function linkify(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  let links = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    if (links >= MAX_LINKS) break;
    const start = m.index;
    const raw = trimTrailing(m[0]);
    const u = parseLink(raw);
    // "http:///path" would parse with host "path": the host must follow the "//".
    if (!u || !/^https?:\/\/[^/\\?#]/i.test(raw)) continue;
    if (start > at) parts.push({ text: text.slice(at, start) });
    const host = idnHost(u);
    parts.push(host ? { text: raw, href: u.href, host } : { text: raw, href: u.href });
    at = start + raw.length;
    links++;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}
