// The writes of one small KV record that a ChatStore keeps in step with a
// list in memory (the self-copy queue, unposted ops, early acks): one after
// another, so a later state never lands before an earlier one, each writing
// the list as it is when its turn comes (deleted when empty). A storage
// error is logged, never thrown: the list in memory goes on, and the next
// write tries again.
import type { KV } from './kv';

export class RecordWrites {
  readonly #kv: KV;
  readonly #key: string;
  readonly #what: string;
  readonly #skip: () => boolean;
  #tail: Promise<void> = Promise.resolve();

  /** `what` names the record in the log; a write whose turn comes while `skip()` (the store closed) writes nothing. */
  constructor(kv: KV, key: string, what: string, skip: () => boolean = () => false) {
    this.#kv = kv;
    this.#key = key;
    this.#what = what;
    this.#skip = skip;
  }

  /** Write `value()` (read when the write's turn comes; `undefined` deletes the record) after the writes before. */
  write(value: () => unknown): Promise<void> {
    this.#tail = this.#tail.then(async () => {
      if (this.#skip()) return;
      try {
        const v = value();
        if (v === undefined) await this.#kv.del(this.#key);
        else await this.#kv.set(this.#key, v);
      } catch (e) {
        console.debug(`${this.#what} not saved:`, e);
      }
    });
    return this.#tail;
  }

  /** The writes begun so far, finished. */
  settled(): Promise<void> {
    return this.#tail;
  }
}
