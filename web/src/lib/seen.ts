// Replay guard for envelope ids (SPEC §8): remembers the most recent
// `capacity` accepted ids, persisted as a FIFO list. What must be on disk
// before an id counts as handled (the pending ops, SPEC §8.5) is written
// first, by the `before` hook, once per batch.
import type { KV } from './kv';

export const SEEN_CAPACITY = 10_000;

/** The replay guard's ids in memory and in one KV record. */
export class SeenIds {
  #ids: string[] = [];
  #set = new Set<string>();

  constructor(
    private readonly kv: KV,
    private readonly key: string,
    private readonly capacity = SEEN_CAPACITY,
    /** Runs at every flush, before the ids are written: state an id's handling left in memory goes to disk first. */
    private readonly before?: () => Promise<void>,
  ) {}

  async load(): Promise<void> {
    const ids = (await this.kv.get<string[]>(this.key)) ?? [];
    this.#ids = ids.slice(-this.capacity);
    this.#set = new Set(this.#ids);
  }

  has(id: string): boolean {
    return this.#set.has(id);
  }

  get size(): number {
    return this.#ids.length;
  }

  #dirty = false;

  /** Record `id` in memory; returns false if it was already there. Call flush() to persist. */
  add(id: string): boolean {
    if (this.#set.has(id)) return false;
    this.#ids.push(id);
    this.#set.add(id);
    if (this.#ids.length > this.capacity) {
      const drop = this.#ids.splice(0, this.#ids.length - this.capacity);
      for (const d of drop) this.#set.delete(d);
    }
    this.#dirty = true;
    return true;
  }

  /** Record `ids` and persist (ids that must not be filed again, e.g. a deleted conversation's own messages). */
  async addAll(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.add(id);
    await this.flush();
  }

  /** Persist if anything changed (once per inbox batch rather than per id). */
  async flush(): Promise<void> {
    await this.before?.();
    if (!this.#dirty) return;
    this.#dirty = false;
    await this.kv.set(this.key, this.#ids);
  }
}
