// Ops waiting for their target (SPEC §8.5 "Pending"): a reaction, edit or
// delete that arrived before the message it names. Its id is in the replay
// guard as soon as it is opened, so it is never opened again: the wait must
// survive a reload. Kept in memory and in one sealed record
// `chat:<own primary>:pending_ops` (SPEC §8.2), bounded in count and bytes,
// the oldest of the largest conversation dropped first (with the reason
// logged, never the content). A stranger's ops (no conversation here) wait in
// memory only, under a small quota of their own, so they never push out a
// contact's.
import { MESSAGE_ID_RE, utf8ToBytes } from '../bytes';
import { isStrictUtcSeconds } from '../envelope';
import { isValidPrimary } from '../identity';
import type { KV } from '../kv';
import type { OpMeta } from './apply';
import { opBody, parseOpBody, type Op } from './body';

/** Ops kept per conversation while their target is not here (the oldest goes first). */
export const MAX_PENDING = 200;
/** How long a pending op waits for its target (ms, wall clock: the wait goes on across a reload). */
export const PENDING_MS = 10 * 60_000;
/** Conversations with pending ops at once (the one waiting longest goes first). */
export const MAX_PENDING_PEERS = 100;
/** Pending ops in all (memory and the sealed record). */
export const MAX_PENDING_TOTAL = 1000;
/** The sealed record's JSON at most (UTF-8 bytes): sixteen edits of the largest text still fit. */
export const MAX_PENDING_BYTES = 1024 * 1024;
/** Strangers' pending ops in all (memory only, apart from the contacts' bounds). */
export const MAX_STRANGER_PENDING = 20;
/** Their size in all (UTF-8 bytes as stored): two edits of the largest text. */
export const MAX_STRANGER_PENDING_BYTES = 160 * 1024;
/** The record's format version. */
export const PENDING_RECORD_V = 1;

/** One op waiting: what it does, who sent it when, and until when it waits (epoch ms). */
export interface Waiting {
  op: Op & { target: string };
  meta: OpMeta;
  until: number;
}

/** Why a pending op was dropped before its target came (logged, SPEC §8.5). */
export type PendingDrop = 'expired' | 'conversation_full' | 'too_many_conversations' | 'too_many' | 'too_large' | 'strangers_full';

/**
 * One stored entry of `pending_ops`: `{"v":1,"ops":[…]}` holds these, oldest
 * first. The op is kept as its sealed `kind` and `body` string and parsed
 * again at load (parseOpBody), so a damaged entry is dropped, never applied.
 */
interface StoredOp {
  peer: string;
  kind: 'reaction' | 'edit' | 'delete';
  body: string;
  id: string;
  sent_at: string;
  by: string;
  own: boolean;
  until: number;
}

interface Entry {
  peer: string;
  w: Waiting;
  /** UTF-8 bytes of its stored JSON (plus a comma). */
  size: number;
  /** From a stranger (no conversation here): memory only, its own quota. */
  stranger?: true;
}

function stored(peer: string, w: Waiting): StoredOp {
  return { peer, kind: w.op.kind as StoredOp['kind'], body: opBody(w.op), id: w.meta.id, sent_at: w.meta.sent_at, by: w.meta.by, own: w.meta.own, until: w.until };
}

function entry(peer: string, w: Waiting): Entry {
  return { peer, w, size: utf8ToBytes(JSON.stringify(stored(peer, w))).length + 1 };
}

/** A stored entry back, or null when it is not one (wrong shape, a body that no longer parses). */
function revive(s: unknown): Entry | null {
  const o = s as StoredOp;
  if (typeof s !== 'object' || s === null || typeof o.peer !== 'string' || !isValidPrimary(o.peer)) return null;
  // As the envelope checks had them (SPEC §8): `by` decides the author-only rule, so a damaged one must not pass.
  if (typeof o.body !== 'string' || typeof o.id !== 'string' || !MESSAGE_ID_RE.test(o.id)) return null;
  if (typeof o.sent_at !== 'string' || !isStrictUtcSeconds(o.sent_at) || typeof o.by !== 'string' || !isValidPrimary(o.by)) return null;
  if (typeof o.own !== 'boolean' || !Number.isFinite(o.until)) return null;
  const op = typeof o.kind === 'string' ? parseOpBody(o.kind, o.body) : null;
  if (!op || op.kind === 'reply') return null;
  return entry(o.peer, { op, meta: { id: o.id, sent_at: o.sent_at, by: o.by, own: o.own }, until: o.until });
}

/**
 * Ops waiting for their target, bounded in count, bytes and time (SPEC §8.5
 * "Pending"). add() and take() change memory at once and mark the record
 * dirty; save() writes it (the caller runs it inside the chat's write queue).
 * Without a KV (unit tests of the bounds) it lives in memory only.
 */
export class PendingOps {
  /** Oldest first. */
  #list: Entry[] = [];
  #dirty = false;
  readonly #kv?: KV;
  readonly #key: string;

  /** `kv` must be the sealed history KV (SPEC §8.2); `key` the record's name. */
  constructor(kv?: KV, key = 'pending_ops') {
    this.#kv = kv;
    this.#key = key;
  }

  /** Read the record (ChatStore.load): entries past their time, damaged ones and any over the bounds are left out. */
  async load(now: number): Promise<void> {
    const v = this.#kv ? await this.#kv.get<{ v?: number; ops?: unknown }>(this.#key) : undefined;
    const raw = v && v.v === PENDING_RECORD_V && Array.isArray(v.ops) ? v.ops.slice(-MAX_PENDING_TOTAL) : [];
    const list = raw.map(revive).filter((e): e is Entry => e !== null);
    this.#dirty = list.length !== raw.length;
    this.#list = list;
    this.#expire(now);
    this.#bound();
  }

  /**
   * Keep `w` for `peer` (its wait started at `w.until − PENDING_MS`); past a
   * bound the oldest of the largest conversation goes. A `stranger`'s op is
   * kept in memory only, under the strangers' quota.
   */
  add(peer: string, w: Waiting, stranger = false): void {
    this.#expire(w.until - PENDING_MS);
    this.#list.push(stranger ? { ...entry(peer, w), stranger } : entry(peer, w));
    if (!stranger) this.#dirty = true;
    const mine = this.#list.filter((e) => e.peer === peer);
    for (const e of mine.slice(0, Math.max(0, mine.length - MAX_PENDING))) this.#drop(e, 'conversation_full');
    this.#bound();
  }

  /** The live ops waiting for `target` in `peer`'s thread, removed (expired ones are dropped on the way). */
  take(peer: string, target: string, now: number): Waiting[] {
    this.#expire(now);
    const hit = this.#list.filter((e) => e.peer === peer && e.w.op.target === target);
    if (!hit.length) return [];
    this.#list = this.#list.filter((e) => !hit.includes(e));
    if (hit.some((e) => !e.stranger)) this.#dirty = true;
    return hit.map((e) => e.w);
  }

  /** Forget every op waiting in `peer`'s conversation (it was deleted on this device). */
  dropPeer(peer: string): void {
    if (this.#list.some((e) => e.peer === peer && !e.stranger)) this.#dirty = true;
    this.#list = this.#list.filter((e) => e.peer !== peer);
  }

  /** The peers with ops waiting, and each one's targets (distinct). */
  targets(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const e of this.#list) out.set(e.peer, (out.get(e.peer) ?? new Set<string>()).add(e.w.op.target));
    return out;
  }

  /** How many ops wait in `peer`'s conversation. */
  count(peer: string): number {
    return this.#list.reduce((n, e) => n + (e.peer === peer ? 1 : 0), 0);
  }

  /** Write the record if anything changed since the last write (inside the write queue). */
  async save(): Promise<void> {
    if (!this.#dirty || !this.#kv) return;
    this.#dirty = false;
    const kept = this.#list.filter((e) => !e.stranger);
    if (!kept.length) return this.#kv.del(this.#key);
    await this.#kv.set(this.#key, { v: PENDING_RECORD_V, ops: kept.map((e) => stored(e.peer, e.w)) });
  }

  #expire(now: number): void {
    for (const e of this.#list.filter((x) => x.w.until <= now)) this.#drop(e, 'expired');
  }

  /**
   * The strangers' quota, then the contacts' conversation, count and byte
   * bounds: the conversation waiting longest goes past 100; past the count
   * or bytes, the oldest op of the conversation holding the most.
   */
  #bound(): void {
    const strangers = this.#list.filter((e) => e.stranger);
    let sBytes = strangers.reduce((n, e) => n + e.size, 0);
    for (let i = 0; strangers.length - i > MAX_STRANGER_PENDING || sBytes > MAX_STRANGER_PENDING_BYTES; i++) {
      sBytes -= strangers[i].size;
      this.#drop(strangers[i], 'strangers_full');
    }
    const kept = () => this.#list.filter((e) => !e.stranger);
    while (new Set(kept().map((e) => e.peer)).size > MAX_PENDING_PEERS) {
      const peer = kept()[0].peer;
      for (const e of kept().filter((x) => x.peer === peer)) this.#drop(e, 'too_many_conversations');
    }
    while (kept().length > MAX_PENDING_TOTAL) this.#drop(oldestOfLargest(kept(), () => 1), 'too_many');
    let bytes = kept().reduce((n, e) => n + e.size, 0);
    while (bytes > MAX_PENDING_BYTES) {
      const e = oldestOfLargest(kept(), (x) => x.size);
      bytes -= e.size;
      this.#drop(e, 'too_large');
    }
  }

  #drop(e: Entry, why: PendingDrop): void {
    this.#list = this.#list.filter((x) => x !== e);
    if (!e.stranger) this.#dirty = true;
    console.debug(`pending ${e.w.op.kind} dropped: ${why}`);
  }
}

/** The oldest entry of the peer whose entries weigh most in `list` (oldest first; a tie goes to the peer seen first). */
function oldestOfLargest(list: readonly Entry[], weight: (e: Entry) => number): Entry {
  const total = new Map<string, number>();
  for (const e of list) total.set(e.peer, (total.get(e.peer) ?? 0) + weight(e));
  let peer = list[0].peer;
  for (const [p, w] of total) if (w > total.get(peer)!) peer = p;
  return list.find((e) => e.peer === peer)!;
}
