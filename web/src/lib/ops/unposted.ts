// Own ops (SPEC §8.5: reaction, edit, delete) not yet known to be posted
// with their self-copy queued (§8.3). An op is applied here at once, but
// unlike a text it is not in a thread as `sending`: without this record a tab
// closed or locked between the server's accept and the copy's queue write
// lost the copy for good (review S2). The op is written to the sealed record
// `unposted_ops` (§8.2) before its post and removed once the post settled
// (accepted with its copy on disk, finally failed and kept for Retry, or its
// conversation deleted); what is still there at load is posted again, same id
// and sent_at (the server answers 200 for a `(to, id)` it has), and its copy
// is queued then. Bounded in count and bytes, the oldest dropped first.
import { MESSAGE_ID_RE, utf8ToBytes } from '../bytes';
import { isStrictUtcSeconds } from '../envelope';
import type { KV } from '../kv';
import type { Outgoing } from '../records';
import { RecordWrites } from '../recordwrites';

/** Ops kept at most (the oldest dropped first, logged). */
export const MAX_UNPOSTED_OPS = 200;
/** The record's JSON at most (UTF-8 bytes). */
export const MAX_UNPOSTED_BYTES = 512 * 1024;

/** One op still to post, to `peer`. */
export interface Unposted {
  peer: string;
  m: Outgoing;
}

const OP_KINDS = ['reaction', 'edit', 'delete'];

function isUnposted(v: unknown): v is Unposted {
  const u = v as Partial<Unposted> | null;
  const m = u?.m;
  return (
    typeof u?.peer === 'string' &&
    typeof m === 'object' &&
    m !== null &&
    OP_KINDS.includes(m.kind) &&
    typeof m.id === 'string' &&
    MESSAGE_ID_RE.test(m.id) &&
    typeof m.sent_at === 'string' &&
    isStrictUtcSeconds(m.sent_at) &&
    typeof m.body === 'string'
  );
}

/** `items` without the oldest past the bounds. */
function bounded(items: Unposted[]): Unposted[] {
  let out = items.slice(-MAX_UNPOSTED_OPS);
  while (out.length > 1 && utf8ToBytes(JSON.stringify(out)).length > MAX_UNPOSTED_BYTES) out = out.slice(1);
  if (out.length < items.length) console.debug(`unposted ops: ${items.length - out.length} dropped (full)`);
  return out;
}

/** The `unposted_ops` record of one ChatStore. */
export class UnpostedOps {
  readonly #kv: KV | undefined;
  readonly #key: string | undefined;
  readonly #closed: () => boolean;
  /** Undefined without storage (nothing is kept). */
  readonly #writes: RecordWrites | undefined;
  #items: Unposted[] = [];
  /** load() ran: writes may go (before it they would replace the stored record). */
  #loaded = false;

  constructor(kv: KV | undefined, key: string | undefined, closed: () => boolean) {
    this.#kv = kv;
    this.#key = key;
    this.#closed = closed;
    this.#writes = kv && key ? new RecordWrites(kv, key, 'unposted ops', closed) : undefined;
  }

  /** Read the record (ChatStore.load); the ops in it, oldest first, to post again. */
  async load(): Promise<readonly Unposted[]> {
    if (!this.#kv || !this.#key) return [];
    const rec = await this.#kv.get<{ v?: number; ops?: unknown[] }>(this.#key);
    const stored = rec?.v === 1 && Array.isArray(rec.ops) ? rec.ops.filter(isUnposted) : [];
    const added = this.#items.filter((x) => !stored.some((s) => same(s, x)));
    this.#items = bounded([...stored, ...added]);
    this.#loaded = true;
    if (added.length) await this.#save();
    return [...this.#items];
  }

  /** Before the op's post: on disk when this resolves (a write error is logged: the op still goes). */
  add(u: Unposted): Promise<void> {
    if (!this.#items.some((x) => same(x, u))) this.#items = bounded([...this.#items, u]);
    return this.#save();
  }

  /** The op's post settled (never while closed: a lock mid-post leaves it for the next load). */
  done(u: Unposted): Promise<void> {
    if (this.#closed()) return this.settled();
    this.#items = this.#items.filter((x) => !same(x, u));
    return this.#save();
  }

  /** The conversation with `peer` was deleted here: its ops are not posted again. */
  forget(peer: string): Promise<void> {
    this.#items = this.#items.filter((x) => x.peer !== peer);
    return this.#save();
  }

  /** The writes begun so far, finished (ChatStore.close). */
  settled(): Promise<void> {
    return this.#writes?.settled() ?? Promise.resolve();
  }

  /** Write the record as it is now (deleted when empty), after the writes before; never rejects. */
  #save(): Promise<void> {
    if (!this.#writes || !this.#loaded) return this.settled();
    return this.#writes.write(() => (this.#items.length ? { v: 1, ops: this.#items } : undefined));
  }
}

function same(a: Unposted, b: Unposted): boolean {
  return a.peer === b.peer && a.m.id === b.m.id;
}
