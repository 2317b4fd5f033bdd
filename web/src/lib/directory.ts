// The handle directory as the chat sees it: parsing and checking what the
// user typed, verified `handle@server` for a primary (SPEC §5 lookups, cached),
// and the key each handle had at first contact, so a handle that later points
// to another key is noticed (the "key changed" warning). The decisions are
// the pure functions at the top; `HandleDirectory` and `ContactBook` keep state.
import { ApiError } from './api';
import type { KV } from './kv';
import type { Api, Conversation, Me } from './records';

/** A sentence for the start-chat form: why that KEZ can't be chatted with. */
export class StartChatError extends Error {}

/** `alice`, `@alice` or `alice@server` → { handle, server | null }. */
export function parseKez(input: string): { handle: string; server: string | null } {
  const s = input.trim().replace(/^@/, '');
  const at = s.lastIndexOf('@');
  if (at === -1) return { handle: s, server: null };
  return { handle: s.slice(0, at), server: s.slice(at + 1).toLowerCase() };
}

/** The warning for a conversation whose handle now belongs to a different key than at first contact. */
export function keyChangedText(fqhn: string): string {
  return `${fqhn}’s key changed since you last talked. Only continue if ${parseKez(fqhn).handle} told you they reset their identity.`;
}

/** Why `handle@server` (as parsed from the form) can't be looked up from here, or null if it can. */
export function startChatProblem(handle: string, server: string | null, me: Pick<Me, 'handle' | 'server'>): string | null {
  if (!handle) return 'Type the KEZ of the person you want to chat with, like alice or alice@' + me.server + '.';
  if (server !== null && server !== me.server) return `Only people on ${me.server} can be reached from here for now.`;
  if (!/^[a-z0-9][a-z0-9_-]{2,31}$/.test(handle)) {
    return /[A-Z]/.test(handle) ? `KEZ handles are lower case — try “${handle.toLowerCase()}”.` : `“${handle}” isn’t a valid handle.`;
  }
  return null;
}

/** The sentence for a failed handle lookup. */
export function lookupProblem(e: unknown, handle: string, server: string): string {
  if (e instanceof ApiError && e.status === 404) return `Nobody called “${handle}” is registered on ${server}. Check the spelling.`;
  return e instanceof Error ? e.message : String(e);
}

/** A lookup record's `handle@server` (`fqhn`, or the handle on our server for servers that omit it). */
export function fqhnOf(rec: { handle: string; fqhn?: string }, server: string): string {
  return rec.fqhn ?? `${rec.handle}@${server}`;
}

/** The handle worth checking for a claimed `from_handle`: only one on our server, whose directory we ask. */
export function claimToCheck(claimed: string | null, server: string): string | null {
  if (!claimed) return null;
  const p = parseKez(claimed);
  return p.server === server ? p.handle : null;
}

/**
 * First contact with `handle` under `peer` → remember that key; a different
 * key than remembered → flag the conversation (once; trustKey clears it);
 * otherwise nothing.
 */
export function contactVerdict(first: string | undefined, peer: string, flagged: boolean): 'remember' | 'flag' | 'same' {
  if (!first) return 'remember';
  return first !== peer && !flagged ? 'flag' : 'same';
}

/** Verified `handle@server` for primaries, asked once per primary (unknown ones are asked again). */
export class HandleDirectory {
  readonly #api: Pick<Api, 'lookupHandle' | 'lookupPrimary'>;
  readonly #server: string;
  readonly #cache = new Map<string, Promise<string | null>>();

  constructor(api: Pick<Api, 'lookupHandle' | 'lookupPrimary'>, server: string) {
    this.#api = api;
    this.#server = server;
  }

  /** Directory-verified `handle@server` for a primary; checks a claimed handle if the reverse lookup fails. */
  resolve(primary: string, claimed: string | null): Promise<string | null> {
    let p = this.#cache.get(primary);
    if (!p) {
      p = this.#lookup(primary, claimed);
      this.#cache.set(primary, p);
      void p.then((h) => {
        if (h === null) this.#cache.delete(primary);
      });
    }
    return p;
  }

  async #lookup(primary: string, claimed: string | null): Promise<string | null> {
    try {
      return fqhnOf(await this.#api.lookupPrimary(primary), this.#server);
    } catch {
      /* fall back to the claimed handle, if the directory agrees */
    }
    const handle = claimToCheck(claimed, this.#server);
    if (handle === null) return null;
    try {
      const r = await this.#api.lookupHandle(handle);
      if (r.primary === primary) return r.fqhn ?? claimed;
    } catch {
      /* unknown */
    }
    return null;
  }
}

/**
 * Verified `handle@server` → the primary it had at first contact (a KV
 * record, sealed like the rest), so a handle that later points to another
 * key is noticed instead of silently opening a second, identical-looking
 * conversation.
 */
export class ContactBook {
  readonly #kv: KV;
  readonly #key: string;
  #byHandle: Record<string, string> = {};
  #dirty = false;

  constructor(kv: KV, key: string) {
    this.#kv = kv;
    this.#key = key;
  }

  /** Read the record; false when there is none yet (history from before it: see seed). */
  async load(): Promise<boolean> {
    const stored = await this.#kv.get<Record<string, string>>(this.#key);
    if (stored) this.#byHandle = stored;
    return Boolean(stored);
  }

  /**
   * Fill the record from conversations in the order they began (the first
   * one per handle holds the key it had first), flagging later ones.
   */
  seed(convs: Conversation[]): void {
    for (const c of convs) if (c.peer_handle) this.note(c, c.peer_handle);
  }

  /** Remember the handle's key at first contact; flag the conversation if it differs from that. */
  note(c: Conversation, handle: string): void {
    const first = this.#byHandle[handle];
    switch (contactVerdict(first, c.peer_primary, Boolean(c.key_changed_from))) {
      case 'remember':
        this.#byHandle[handle] = c.peer_primary;
        this.#dirty = true;
        break;
      case 'flag':
        c.key_changed_from = first;
        break;
      case 'same':
        break;
    }
  }

  /** "They told me they reset": `peer` becomes the key remembered for `handle`. */
  trust(handle: string, peer: string): void {
    this.#byHandle[handle] = peer;
    this.#dirty = true;
  }

  /** The primary `handle@server` had at first contact (undefined if never talked to). */
  known(fqhn: string): string | undefined {
    return this.#byHandle[fqhn];
  }

  /** Write the record if it changed since the last save. */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await this.#kv.set(this.#key, { ...this.#byHandle });
  }
}
