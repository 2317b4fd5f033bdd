// Replay guard for envelope ids (SPEC §8): remembers the most recent
// `capacity` accepted ids, persisted as a FIFO list.
import type { KV } from './kv';

export const SEEN_CAPACITY = 10_000;

export class SeenIds {
  #ids: string[] = [];
  #set = new Set<string>();

  constructor(
    private readonly kv: KV,
    private readonly key: string,
    private readonly capacity = SEEN_CAPACITY,
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

  /** Record `id`; returns false if it was already there. Persists. */
  async add(id: string): Promise<boolean> {
    if (this.#set.has(id)) return false;
    this.#ids.push(id);
    this.#set.add(id);
    while (this.#ids.length > this.capacity) this.#set.delete(this.#ids.shift()!);
    await this.kv.set(this.key, this.#ids);
    return true;
  }
}
