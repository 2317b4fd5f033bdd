// The primaries this identity blocked (issue 13): one sealed record
// `chat:<own primary>:blocked` in the history KV (SPEC §8.2), a list of
// primaries. What a blocked primary sends is opened (the sender is only
// known then), then dropped: not stored, not shown, never acknowledged
// (inbound.ts). Reactive, so the thread swaps its composer at once. It
// follows the identity: settingsync.ts sends it to the other devices.
import { isValidPrimary } from './identity';
import type { KV } from './kv';

/** At most this many blocked primaries; a block past it is refused (never an old one dropped). */
export const MAX_BLOCKED = 1000;
/** What the user is told when the list is full. */
export const BLOCK_LIST_FULL = 'You can block at most 1,000 people. Unblock someone first.';

export class BlockList {
  #list = $state<string[]>([]);
  #set = new Set<string>();
  readonly #kv: KV;
  readonly #key: string;

  /** `kv` must be the sealed history KV; `key` the record's name. */
  constructor(kv: KV, key: string) {
    this.#kv = kv;
    this.#key = key;
  }

  /** Read the record; entries that are not valid primaries and repeats are left out, at most MAX_BLOCKED kept. */
  async load(): Promise<void> {
    const v = await this.#kv.get<unknown>(this.#key);
    const list = Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && isValidPrimary(p)) : [];
    this.#apply([...new Set(list)].slice(-MAX_BLOCKED));
  }

  /** Whether messages from `primary` are dropped. */
  has(primary: string): boolean {
    // Read the reactive list so components re-render on a change.
    void this.#list.length;
    return this.#set.has(primary);
  }

  /** The blocked primaries, oldest block first. */
  get list(): readonly string[] {
    return this.#list;
  }

  /** Add `primary` and save; false (nothing changed) when it was there or the list is full. */
  async block(primary: string): Promise<boolean> {
    if (this.#set.has(primary) || this.#list.length >= MAX_BLOCKED) return false;
    this.#apply([...this.#list, primary]);
    await this.#save();
    return true;
  }

  /** Whether another block fits. */
  get full(): boolean {
    return this.#list.length >= MAX_BLOCKED;
  }

  /** Replace the whole list (a snapshot from another device, SPEC §8.7, its primaries checked by parseSyncBody) and save. */
  async replace(list: readonly string[]): Promise<void> {
    this.#apply([...new Set(list)].slice(0, MAX_BLOCKED));
    await this.#save();
  }

  /** Remove `primary` and save; false when it was not there. */
  async unblock(primary: string): Promise<boolean> {
    if (!this.#set.has(primary)) return false;
    this.#apply(this.#list.filter((p) => p !== primary));
    await this.#save();
    return true;
  }

  #apply(list: string[]): void {
    this.#set = new Set(list);
    this.#list = list;
  }

  #save(): Promise<void> {
    return this.#kv.set(this.#key, [...this.#list]);
  }
}
