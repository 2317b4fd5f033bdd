import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiError, type InboxItem, type LookupRecord } from '../src/lib/api';
import type { Api } from '../src/lib/chat.svelte';
import { pollAuth, pollSignedString } from '../src/lib/auth';
import { primaryFromSeed, verifyString } from '../src/lib/identity';
import { fromHex } from '../src/lib/bytes';
import { sha256 } from '@noble/hashes/sha2.js';

export const REPO = resolve(__dirname, '../..');
export const vectorPath = (name: string) => resolve(REPO, 'tests/vectors', name);

export function loadJson<T = any>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

export const hexSeed = (h: string) => fromHex(h, 32);
export const seedFor = (label: string) => sha256(new TextEncoder().encode(`kez-chat unit test: ${label}`));

/** An in-memory home server implementing the parts of SPEC §5/§7 the client uses. */
export class FakeServer {
  users = new Map<string, string>(); // handle → primary
  seeds = new Map<string, Uint8Array>(); // handle → seed, for tests that poll by hand
  boxes = new Map<string, InboxItem[]>();
  posts: { to: string; id: string; envelope: unknown; notify: boolean; keepalive?: boolean }[] = [];
  /** DELETE /v1/inbox calls, in order. */
  released: { handle: string; through: number }[] = [];
  /** What polls say of how full each mailbox is (`used_percent`, SPEC §7.3); 0 when unset. */
  usedPercent = new Map<string, number>();
  failNextPost: ApiError | null = null;
  constructor(public readonly domain = 'kez.test') {}

  add(handle: string, seed: Uint8Array): string {
    const p = primaryFromSeed(seed);
    this.users.set(handle, p);
    this.seeds.set(handle, seed);
    this.boxes.set(handle, []);
    return p;
  }

  #rec(handle: string): LookupRecord {
    return {
      handle,
      fqhn: `${handle}@${this.domain}`,
      primary: this.users.get(handle)!,
      registered_at: '2026-05-25T03:00:00Z',
    };
  }

  /** A valid poll credential for `handle` on this server, as its client would sign it. */
  pollAuth(handle: string, since: number): string {
    return pollAuth(this.seeds.get(handle)!, this.domain, handle, since);
  }

  api(): Api {
    return {
      lookupHandle: async (h) => {
        if (!this.users.has(h)) throw new ApiError(404, 'not_found', '');
        return this.#rec(h);
      },
      lookupPrimary: async (p) => {
        for (const [h, q] of this.users) if (q === p) return this.#rec(h);
        throw new ApiError(404, 'not_found', '');
      },
      postMessage: async (to, id, envelope, opts = {}) => {
        if (this.failNextPost) {
          const e = this.failNextPost;
          this.failNextPost = null;
          throw e;
        }
        const handle = to.replace(`@${this.domain}`, '');
        const box = this.boxes.get(handle);
        if (!box) throw new ApiError(404, 'unknown_recipient', '');
        const dup = box.find((m) => m.id === id);
        if (dup) return { status: 200, seq: dup.seq, received_at: dup.received_at };
        this.posts.push({ to, id, envelope, notify: opts.notify !== false, keepalive: opts.keepalive === true });
        const item = { seq: box.length + 1, id, envelope: structuredClone(envelope), received_at: new Date().toISOString() };
        box.push(item);
        return { status: 201, seq: item.seq, received_at: item.received_at };
      },
      pollInbox: async (handle, since, auth) => {
        // As the real server does (SPEC §7.2): the credential must be signed
        // for this server, by the handle's key.
        const [ts, sig] = auth.split(':');
        const primary = this.users.get(handle);
        if (!primary || !verifyString(sig, pollSignedString(this.domain, handle, since, Number(ts)), primary)) {
          throw new ApiError(401, 'bad_signature', '');
        }
        const box = this.boxes.get(handle) ?? [];
        const messages = box.filter((m) => m.seq > since).slice(0, 500);
        return {
          messages,
          next: messages.length ? messages[messages.length - 1].seq : null,
          newest: box.length,
          used_percent: this.usedPercent.get(handle) ?? 0,
        };
      },
      releaseInbox: async (handle, through) => {
        this.released.push({ handle, through });
        return { deleted: 0 };
      },
      streamUrl: (handle, auth, since) => `/v1/inbox/${handle}/stream?auth=${auth}&since=${since}`,
    };
  }
}

/** An EventSource the test drives by hand (`emit('open')`, `emit('error')`…). */
export class FakeEventSource {
  static all: FakeEventSource[] = [];
  listeners: Record<string, ((ev: any) => void)[]> = {};
  closed = false;
  constructor(public url: string) {
    FakeEventSource.all.push(this);
  }
  addEventListener(t: string, fn: (ev: any) => void) {
    (this.listeners[t] ??= []).push(fn);
  }
  emit(t: string, ev: any = {}) {
    for (const fn of this.listeners[t] ?? []) fn(ev);
  }
  close() {
    this.closed = true;
  }
}

type LockCallback = (lock: { name: string } | null) => unknown;

/**
 * An in-process LockManager with the Web Locks semantics TabLock relies on:
 * exclusive locks, a FIFO of waiters, `ifAvailable` (callback gets null),
 * `steal` (the holder's request rejects with AbortError, the stealer gets the
 * lock at once) and `signal` (a waiting request is dropped with AbortError).
 * Several tabs of one browser share one instance.
 */
export class FakeLockManager {
  #held = new Map<string, { stolen: (e: Error) => void }>();
  #waiting = new Map<string, (() => void)[]>();

  holds(name: string): boolean {
    return this.#held.has(name);
  }

  request(name: string, opts: { ifAvailable?: boolean; steal?: boolean; signal?: AbortSignal }, cb: LockCallback): Promise<unknown> {
    if (opts.steal) {
      const h = this.#held.get(name);
      this.#held.delete(name);
      h?.stolen(new DOMException('The lock was stolen.', 'AbortError'));
      return this.#grant(name, cb);
    }
    const queue = this.#waiting.get(name) ?? [];
    if (!this.#held.has(name) && queue.length === 0) return this.#grant(name, cb);
    if (opts.ifAvailable) return Promise.resolve().then(() => cb(null));
    return new Promise<unknown>((go, fail) => {
      // Granted synchronously when the holder lets go, so nobody slips in between.
      const entry = () => void this.#grant(name, cb).then(go, fail);
      queue.push(entry);
      this.#waiting.set(name, queue);
      opts.signal?.addEventListener('abort', () => {
        const i = queue.indexOf(entry);
        if (i === -1) return;
        queue.splice(i, 1);
        fail(new DOMException('The request was aborted.', 'AbortError'));
      });
    });
  }

  #grant(name: string, cb: LockCallback): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry = { stolen: reject };
      this.#held.set(name, entry);
      const done = () => {
        if (this.#held.get(name) !== entry) return;
        this.#held.delete(name);
        this.#waiting.get(name)?.shift()?.();
      };
      void Promise.resolve()
        .then(() => cb({ name }))
        .then(
          (v) => {
            done();
            resolve(v);
          },
          (e: unknown) => {
            done();
            reject(e);
          },
        );
    });
  }
}
