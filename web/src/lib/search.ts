// Search across conversations (issue 13), on the device only: the decrypted
// history is read from the sealed KV (SPEC §8.2) thread by thread and
// nothing is sent anywhere. Matching is case- and accent-insensitive (NFKD,
// combining marks dropped, lower case), results are capped, and the scan
// yields to the event loop between slices so a long history never blocks
// the UI. The highlight is given as ranges of the ORIGINAL text, for the UI
// to build text nodes and <mark>s (never markup from a message).
import type { ChatMessage, Conversation } from './records';

/** At most this many results per search (the newest first in each conversation). */
export const MAX_RESULTS = 200;
/** Messages looked at between two yields to the event loop. */
export const SLICE = 400;
/** Longest query, in UTF-16 units (what is typed beyond it is ignored). */
export const MAX_QUERY = 200;

/** A half-open range [start, end) of UTF-16 indices into a message's text. */
export type Range = [number, number];

/** A text folded for matching, with where each folded unit came from in the original. */
export interface Folded {
  text: string;
  /** Per folded UTF-16 unit: the start and end of the original code point it came from. */
  from: number[];
  to: number[];
}

const MARKS = /\p{M}/gu;

/** One code point (or string) folded: NFKD, combining marks dropped, lower case. */
export function fold(s: string): string {
  return s.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

/** `s` folded code point by code point, keeping the map back to `s`'s indices. */
export function foldWithMap(s: string): Folded {
  let text = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const cp of s) {
    const f = fold(cp);
    text += f;
    for (let k = 0; k < f.length; k++) {
      from.push(i);
      to.push(i + cp.length);
    }
    i += cp.length;
  }
  return { text, from, to };
}

/** The query as matched: folded, trimmed, bounded; '' means "nothing to search". */
export function normalizeQuery(q: string): string {
  return fold(q.slice(0, MAX_QUERY)).trim().replace(/\s+/gu, ' ');
}

/** Every non-overlapping match of the folded `query` in `text`, as ranges of the original text. */
export function matchRanges(text: string, query: string, max = 20): Range[] {
  if (!query) return [];
  const f = foldWithMap(text);
  const out: Range[] = [];
  let at = f.text.indexOf(query);
  while (at !== -1 && out.length < max) {
    const end = at + query.length - 1;
    out.push([f.from[at], f.to[end]]);
    at = f.text.indexOf(query, at + query.length);
  }
  return out;
}

/** One found message. */
export interface Hit {
  peer: string;
  id: string;
  dir: ChatMessage['dir'];
  sent_at: string;
  body: string;
  ranges: Range[];
}

/** Hits of one conversation, newest first. */
export interface HitGroup {
  peer: string;
  hits: Hit[];
}

/** What a search reads: the conversations, and each thread (from memory or the sealed KV). */
export interface SearchSource {
  conversations(): readonly Conversation[];
  thread(peer: string): Promise<readonly ChatMessage[]>;
}

/** Thrown (and caught by callers) when a newer search replaced this one. */
export class SearchAborted extends Error {}

const yieldNow = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Search every conversation's messages (newest conversation first, newest
 * message first) for `query`: at most `cap` hits, grouped by conversation.
 * Texts are matched on their body, files on their name. Throws
 * SearchAborted when `signal` aborts (a newer query).
 */
export async function search(src: SearchSource, query: string, opts: { cap?: number; signal?: AbortSignal } = {}): Promise<HitGroup[]> {
  const q = normalizeQuery(query);
  const cap = opts.cap ?? MAX_RESULTS;
  if (!q) return [];
  const convs = [...src.conversations()].sort((a, b) => (a.last_at < b.last_at ? 1 : a.last_at > b.last_at ? -1 : 0));
  const groups: HitGroup[] = [];
  let total = 0;
  let budget = SLICE;
  for (const c of convs) {
    if (total >= cap) break;
    const thread = await src.thread(c.peer_primary);
    if (opts.signal?.aborted) throw new SearchAborted();
    const hits: Hit[] = [];
    for (let i = thread.length - 1; i >= 0 && total < cap; i--) {
      if (--budget <= 0) {
        budget = SLICE;
        await yieldNow();
        if (opts.signal?.aborted) throw new SearchAborted();
      }
      const m = thread[i];
      if (typeof m.body !== 'string' || !m.body) continue;
      // Cheap test first; the ranges only for what matches.
      if (!fold(m.body).includes(q)) continue;
      hits.push({ peer: c.peer_primary, id: m.id, dir: m.dir, sent_at: m.sent_at, body: m.body, ranges: matchRanges(m.body, q) });
      total++;
    }
    if (hits.length) groups.push({ peer: c.peer_primary, hits });
  }
  return groups;
}

/** A piece of a result's snippet: plain, or the matched text. */
export interface Piece {
  text: string;
  hit: boolean;
}

/**
 * The part of `body` to show for a hit: around the first match, at most
 * about `width` characters, cut into plain and matched pieces (with "…"
 * where text was left out).
 */
export function snippet(body: string, ranges: readonly Range[], width = 90): Piece[] {
  // Line breaks as spaces, one for one (every \s is one UTF-16 unit), so the ranges still fit.
  const flat = body.replace(/\s/gu, ' ');
  const rs = ranges;
  const first = rs[0]?.[0] ?? 0;
  let start = Math.max(0, first - Math.floor(width / 3));
  const end = Math.min(flat.length, start + width);
  start = Math.max(0, Math.min(start, end - width));
  const pieces: Piece[] = [];
  if (start > 0) pieces.push({ text: '…', hit: false });
  let at = start;
  for (const [a, b] of rs) {
    if (b <= at || a >= end) continue;
    const s = Math.max(a, at);
    if (s > at) pieces.push({ text: flat.slice(at, s), hit: false });
    pieces.push({ text: flat.slice(s, Math.min(b, end)), hit: true });
    at = Math.min(b, end);
  }
  if (at < end) pieces.push({ text: flat.slice(at, end), hit: false });
  if (end < flat.length) pieces.push({ text: '…', hit: false });
  return pieces;
}
