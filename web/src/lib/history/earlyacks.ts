// Acks that came before the message they confirm (SPEC §8.3 "Delivered",
// TODO #155). On a device of the identity other than the sending one, the
// peer's ack and the self-copy both come from the own mailbox or addr, and
// the ack may be processed first (relays, or a copy that waited in the
// sender's queue). Its ids that name no message here are remembered, so the
// copy, when it is filed, shows "delivered" at once.
//
// Persisted (sealed like the history, SPEC §8.2, record `early_acks`), not
// in memory: the copy can wait in the sender's persisted queue for days
// (offline, resting until the next load), long after this device reloaded.
//
// Most ids an ack names without a message here are file chunks' (§13: every
// chunk is acked, and chunks are never in a thread), so (review S3):
// - the ids of chunks this device posted itself are never kept (the sending
//   device knows them: noteOwnChunk);
// - each peer with a conversation here has a quota of its own
//   (MAX_EARLY_ACKS_PER_PEER, its oldest forgotten first), so one peer's
//   uploads never push out another's acks; peers without a conversation here
//   (strangers, or a contact whose first copy is still to come) share a small
//   quota (MAX_EARLY_ACKS_OTHERS), so they never push out a contact's;
// - at most MAX_EARLY_ACKS in all, none older than EARLY_ACK_MAX_AGE_MS (a
//   copy older than that is never posted: COPY_MAX_AGE_MS);
// - the record is written at the end of an ingest batch (flush, run by the
//   replay guard's flush before the seen ids), once per batch however many
//   acks it held, and never when nothing changed.
import type { KV } from '../kv';
import { RESTAMP_AFTER_MS } from '../outboxrules';
import { RecordWrites } from '../recordwrites';

/** `[peer, id, at, contact]` entries kept at most, in all. */
export const MAX_EARLY_ACKS = 4096;
/** Entries of one peer with a conversation here (a 10 MiB file is 128 chunks). */
export const MAX_EARLY_ACKS_PER_PEER = 1024;
/** Entries of all the peers without a conversation here, together. */
export const MAX_EARLY_ACKS_OTHERS = 64;
/** Forgotten after this (ms, wall clock): the copy it waits for is dropped unsent by then. */
export const EARLY_ACK_MAX_AGE_MS = RESTAMP_AFTER_MS;
/** Ids of chunks this device posted, remembered in memory (the newest). */
export const MAX_OWN_CHUNK_IDS = 4096;

/** `contact`: 1 when the peer had a conversation here as the ack came (its own quota), else 0 (the shared one). */
type Entry = [peer: string, id: string, at: number, contact: 0 | 1];

function isEntry(v: unknown): v is Entry {
  return Array.isArray(v) && v.length === 4 && typeof v[0] === 'string' && typeof v[1] === 'string' && typeof v[2] === 'number' && (v[3] === 0 || v[3] === 1);
}

/** The ids a peer acked before this device had the message, per identity. */
export class EarlyAcks {
  readonly #kv: KV;
  readonly #key: string;
  readonly #writes: RecordWrites;
  #entries: Entry[] = [];
  #dirty = false;
  /** load() ran: flush() may write (before it, it would replace the stored entries). */
  #loaded = false;
  /** Ids of chunks posted by this device (insertion order; the oldest forgotten first). */
  readonly #ownChunks = new Set<string>();

  constructor(kv: KV, key: string) {
    this.#kv = kv;
    this.#key = key;
    this.#writes = new RecordWrites(kv, key, 'early acks');
  }

  async load(now: number): Promise<void> {
    const rec = await this.#kv.get<{ v?: number; acks?: unknown[] }>(this.#key);
    const stored = rec?.v === 2 && Array.isArray(rec.acks) ? rec.acks.filter(isEntry) : [];
    this.#entries = [...stored, ...this.#entries].filter(([, , at]) => now - at <= EARLY_ACK_MAX_AGE_MS).slice(-MAX_EARLY_ACKS);
    this.#loaded = true;
  }

  /** This device posted a chunk under `id`: an ack naming it is never kept. */
  noteOwnChunk(id: string): void {
    this.#ownChunks.add(id);
    if (this.#ownChunks.size > MAX_OWN_CHUNK_IDS) this.#ownChunks.delete(this.#ownChunks.values().next().value!);
  }

  /**
   * Remember `ids` of a verified ack from `peer` that named no message here
   * (`contact`: `peer` has a conversation here). In memory: flush() writes.
   */
  add(peer: string, ids: readonly string[], contact: boolean, now: number): void {
    const fresh = ids.filter((id) => !this.#ownChunks.has(id) && !this.#has(peer, id));
    if (!fresh.length) return;
    let all = [...this.#entries, ...fresh.map((id): Entry => [peer, id, now, contact ? 1 : 0])];
    // Over its quota: the group's oldest go (this contact's own entries, or all the others').
    const mine = (e: Entry) => (contact ? e[3] === 1 && e[0] === peer : e[3] === 0);
    const quota = contact ? MAX_EARLY_ACKS_PER_PEER : MAX_EARLY_ACKS_OTHERS;
    let over = all.filter(mine).length - quota;
    if (over > 0) all = all.filter((e) => !(mine(e) && over-- > 0));
    this.#entries = all.slice(-MAX_EARLY_ACKS);
    this.#dirty = true;
  }

  /** Whether `peer` acked `id` before it was here (left in place: used() forgets it once the copy is filed). */
  has(peer: string, id: string): boolean {
    return this.#has(peer, id);
  }

  /** The copy of `id` was filed: its entry goes (written at the next flush). */
  used(peer: string, id: string): void {
    const left = this.#entries.filter(([p, i]) => p !== peer || i !== id);
    if (left.length === this.#entries.length) return;
    this.#entries = left;
    this.#dirty = true;
  }

  #has(peer: string, id: string): boolean {
    return this.#entries.some(([p, i]) => p === peer && i === id);
  }

  /** Write the record if it changed (deleted when empty); a storage error is logged, never thrown into ingest. */
  flush(): Promise<void> {
    if (!this.#dirty || !this.#loaded) return this.#writes.settled();
    this.#dirty = false;
    return this.#writes.write(() => (this.#entries.length ? { v: 2, acks: this.#entries } : undefined));
  }
}
