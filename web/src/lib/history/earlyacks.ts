// Acks that came before the message they confirm (SPEC §8.3 "Delivered",
// TODO #155). On a device of the identity other than the sending one, the
// peer's ack and the self-copy both come from the own mailbox or addr, and
// the ack may be processed first (relays, or a copy that waited in the
// sender's queue). Its ids that name no message here are remembered, so the
// copy, when it is filed, shows "delivered" at once.
//
// Persisted (sealed like the history, SPEC §8.2, record `early_acks`), not
// in memory: the copy can wait in the sender's persisted queue for hours
// (offline, resting until the next load), long after this device reloaded.
// Small and bounded (MAX_EARLY_ACKS pairs, the oldest forgotten first), and
// written only when an ack names a message this device does not have.
import type { KV } from '../kv';

/** `[peer, id]` pairs kept at most. */
export const MAX_EARLY_ACKS = 256;

type Pair = [peer: string, id: string];

function isPair(v: unknown): v is Pair {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
}

/** The ids a peer acked before this device had the message, per identity. */
export class EarlyAcks {
  readonly #kv: KV;
  readonly #key: string;
  #pairs: Pair[] = [];

  constructor(kv: KV, key: string) {
    this.#kv = kv;
    this.#key = key;
  }

  async load(): Promise<void> {
    const rec = await this.#kv.get<{ v?: number; acks?: unknown[] }>(this.#key);
    const stored = rec?.v === 1 && Array.isArray(rec.acks) ? rec.acks.filter(isPair) : [];
    this.#pairs = [...stored, ...this.#pairs].slice(-MAX_EARLY_ACKS);
  }

  /** Remember `ids` of a verified ack from `peer` that named no message here. */
  async add(peer: string, ids: readonly string[]): Promise<void> {
    const fresh = ids.filter((id) => !this.#has(peer, id));
    if (!fresh.length) return;
    this.#pairs = [...this.#pairs, ...fresh.map((id): Pair => [peer, id])].slice(-MAX_EARLY_ACKS);
    await this.#save();
  }

  /** Whether `peer` acked `id` (or one of `ids`, a message's earlier ids) before it was here; forgotten once asked. */
  async take(peer: string, ids: readonly string[]): Promise<boolean> {
    const left = this.#pairs.filter(([p, id]) => p !== peer || !ids.includes(id));
    if (left.length === this.#pairs.length) return false;
    this.#pairs = left;
    await this.#save();
    return true;
  }

  #has(peer: string, id: string): boolean {
    return this.#pairs.some(([p, i]) => p === peer && i === id);
  }

  async #save(): Promise<void> {
    if (this.#pairs.length) await this.#kv.set(this.#key, { v: 1, acks: this.#pairs });
    else await this.#kv.del(this.#key);
  }
}
