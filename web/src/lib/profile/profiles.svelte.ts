// The profile store of one unlocked identity (SPEC §14): its own picture,
// display name and visual-encryption choice (sealed at rest, §8.2), what it
// published, and the peer-profile cache the avatars read. Republishes, a
// little later, when a new contact appears (a peer the user has sent a
// message to: a stranger writing first gets no key), so every contact gets a
// wrap of the picture's key. A republish starts from the document currently
// published (another device's or a lost history's wraps stay); a restored
// device reads its own picture back through its self-wrap.
import type { KV } from '../kv';
import type { Conversation } from '../records';
import { bytesToHex, fromHex } from '../bytes';
import { rfc3339 } from '../time';
import { buildProfile, cleanDisplayName, type ProfilePayload } from './document';
import { backgroundDue, PeerCache, refreshPeer, type PeerProfile, type ProfileSource, type Reveal } from './peers';
import { fetchNostrProfile, fetchServerProfile, metadataContent, newest, putProfile } from './publish';
import { carriesKey, nextWraps } from './own-wraps';
import { findKey, type KeyWrap } from './wrap';

/**
 * How often the conversations are looked at (ms): a new contact gets a wrap
 * (the profile is republished) and a new peer's profile is fetched within
 * this delay. A plain timer, not an $effect: it also runs outside
 * components and in the unit tests.
 */
export const CHECK_EVERY_MS = 2_000;
/** Retries of a restored device's own-profile recovery that read nothing (backoff 2 s doubling). */
export const RECOVERY_TRIES = 5;
/** A background refresh of one peer is not tried again sooner than this (ms): a failing source is not hammered. */
export const RETRY_AFTER_MS = 5 * 60_000;
/** A peer whose conversation moved since their profile's fetch is revalidated once it is this old (ms): a new name or picture, or the wrap added once this user wrote back (SPEC §14.3, §14.7), shows within a minute. */
export const ACTIVE_REFRESH_MS = 60_000;

/** The own profile as stored (sealed) on this device. */
export interface OwnProfile {
  /** The local picture (256×256 JPEG, or the 192×192 PNG a restored device recovered), a data URL. */
  picture: string | null;
  display_name: string | null;
  /** Visual encryption (default on). */
  visual: boolean;
  /** The published picture's visual key (hex), when scrambled. */
  key: string | null;
  /** The published `picture`: what strangers see. */
  published: string | null;
  /** The primaries this device knows the published key has a wrap for (other devices' contacts may have one too). */
  wrapped_for: string[];
  /** The last published `visual_keys` (used when the published document cannot be read back). */
  wraps?: KeyWrap[];
  updated_at: string | null;
}

const EMPTY: OwnProfile = { picture: null, display_name: null, visual: true, key: null, published: null, wrapped_for: [], wraps: [], updated_at: null };

/** What the store needs from the chat (a ChatStore satisfies it). */
export interface ChatView {
  conversations: Conversation[];
  conversation(peer: string): Conversation | undefined;
  transport: 'server' | 'nostr' | 'both';
  relays: string[];
  /** Publish a kind 0 with this content, signed by the derived nostr key (SPEC §12, §14.6). */
  publishMetadata(content: Record<string, unknown>): Promise<unknown>;
}

/** The canvas work (canvas.ts in the browser; tests pass their own). */
export interface PictureOps {
  reveal: Reveal;
  publish(localUrl: string, visual: boolean): Promise<{ picture: string; key: Uint8Array | null }>;
}

export interface ProfilesDeps {
  kv: KV;
  seed: Uint8Array;
  primary: string;
  handle: string;
  server: string;
  chat: ChatView;
  pictures: PictureOps;
  now: () => Date;
  fetch?: typeof fetch;
}

/**
 * The peers a wrap is owed to (SPEC §14.3): those the user has sent at least
 * one message to. A stranger who writes first gets no key to the picture.
 */
export function contactsOf(convs: readonly Conversation[]): string[] {
  return convs.filter((c) => c.wrote === true).map((c) => c.peer_primary);
}

/** A strictly newer `updated_at` than `prev` (the server refuses an equal one: `stale_profile`). */
export function nextUpdatedAt(now: Date, prev: string | null): string {
  const t = rfc3339(now);
  if (!prev || t > prev) return t;
  return rfc3339(new Date(Date.parse(prev) + 1000));
}

export class Profiles {
  own = $state<OwnProfile>({ ...EMPTY });
  peers = $state<Record<string, PeerProfile>>({});
  /** A plain sentence when the last publish failed (null otherwise). */
  publishError = $state<string | null>(null);
  publishing = $state(false);

  readonly #d: ProfilesDeps;
  readonly #cache: PeerCache;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #inflight = new Map<string, Promise<void>>();
  /** When each peer was last refreshed in the background (ms). */
  #tried = new Map<string, number>();
  /** When the last publish failed (ms), 0 after a success. */
  #failedAt = 0;
  /** The publish running or last run (publishes are serialised), and how many are queued. */
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  /** Each peer's background-refresh jitter in [0, 1) (peers.ts backgroundDue). */
  #jitter = new Map<string, number>();
  /**
   * A device with no own record whose recovery read nothing (the server or
   * relays unreachable, or nothing published): tries left and when the next
   * is due (ms). Bounded, so a user who never published costs a few fetches.
   */
  #recovery = { tries: 0, dueAt: 0, running: false };

  constructor(deps: ProfilesDeps) {
    this.#d = deps;
    this.#cache = new PeerCache(deps.kv, deps.primary);
  }

  get #ownKey(): string {
    return `ownprofile:${this.#d.primary}`;
  }

  /** Load the own profile; on a device that has none, recover it from what was published. */
  async load(): Promise<void> {
    const stored = await this.#d.kv.get<OwnProfile>(this.#ownKey);
    if (stored) this.own = { ...EMPTY, ...stored };
    else await this.#recoverOwn();
  }

  /**
   * Watch the conversations: show their peers' profiles, republish for new
   * contacts. First reads the published own document once: another device
   * may have published a newer one (a new picture: this device's contacts
   * then get wraps of its key at the next check).
   */
  start(): void {
    if (this.#closed || this.#timer) return;
    void this.#syncOwn();
    this.#check();
    this.#timer = setInterval(() => this.#check(), CHECK_EVERY_MS);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #check(): void {
    const r = this.#recovery;
    if (r.tries > 0 && r.tries <= RECOVERY_TRIES && !r.running && !this.own.updated_at && this.#d.now().getTime() >= r.dueAt) {
      r.running = true;
      void this.#recoverOwn().catch((e: unknown) => {
        r.running = false;
        console.debug('profile recovery failed:', (e as Error).message);
      });
    }
    const convs = this.#d.chat.conversations;
    void this.#showAll(convs.map((c) => c.peer_primary));
    const wrapped = new Set(this.own.wrapped_for);
    const owed = contactsOf(convs).some((p) => !wrapped.has(p));
    if (owed && this.own.published && this.own.key && !this.publishing && !this.#failedRecently()) void this.publish();
  }

  async #syncOwn(): Promise<void> {
    const cur = await this.#published();
    if (!cur || this.#closed || this.publishing || (this.own.updated_at && cur.updated_at <= this.own.updated_at)) return;
    await this.#adopt(cur);
    if (!this.#closed) await this.#d.kv.set(this.#ownKey, $state.snapshot(this.own));
  }

  /** After a failed publish, the next automatic one waits a minute (no hammering a refusing server). */
  #failedRecently(): boolean {
    return this.#failedAt !== 0 && this.#d.now().getTime() - this.#failedAt < 60_000;
  }

  /** A peer's cached profile (reactive). */
  peer(primary: string): PeerProfile | undefined {
    return this.peers[primary];
  }

  /** Fetch a peer's profile when stale, or now (`force`: a thread opened). */
  refresh(peer: string, force = false): Promise<void> {
    const running = this.#inflight.get(peer);
    if (running) return running;
    const run = (async () => {
      const p = await refreshPeer({
        cache: this.#cache,
        seed: this.#d.seed,
        peer,
        sources: this.#sources(() => this.#d.chat.conversation(peer)?.peer_handle ?? null, force),
        reveal: this.#d.pictures.reveal,
        now: this.#d.now().getTime(),
        force,
      });
      if (p && !this.#closed) this.peers[peer] = p;
    })()
      .catch((e: unknown) => console.debug('profile refresh failed:', (e as Error).message))
      .finally(() => this.#inflight.delete(peer));
    this.#inflight.set(peer, run);
    return run;
  }

  /**
   * Background refresh of every peer whose entry is missing or stale (after
   * a per-peer random delay, so refreshes do not go out together), at most
   * one try per peer per RETRY_AFTER_MS. Each fetch tells the source that
   * this user knows that peer (SPEC §14.7).
   */
  async #showAll(peers: string[]): Promise<void> {
    const now = this.#d.now().getTime();
    for (const p of peers) {
      if (this.#closed) return;
      if (this.#movedSinceFetch(p, now)) {
        this.#tried.set(p, now);
        await this.refresh(p, true);
        continue;
      }
      if (now - (this.#tried.get(p) ?? -Infinity) < RETRY_AFTER_MS) continue;
      if (!this.#jitter.has(p)) this.#jitter.set(p, Math.random());
      if (!backgroundDue(this.peers[p], now, this.#jitter.get(p) ?? 0)) continue;
      this.#tried.set(p, now);
      await this.refresh(p);
    }
  }

  /** Whether `peer`'s conversation has a message newer than their profile's fetch, fetched (and tried) at least ACTIVE_REFRESH_MS ago. */
  #movedSinceFetch(peer: string, now: number): boolean {
    const fetched = this.peers[peer]?.fetched_at;
    const last = Date.parse(this.#d.chat.conversation(peer)?.last_at ?? '');
    if (fetched === undefined || !(last > fetched)) return false;
    return now - fetched >= ACTIVE_REFRESH_MS && now - (this.#tried.get(peer) ?? -Infinity) >= ACTIVE_REFRESH_MS;
  }

  /**
   * The home server (for a handle on this server) and, with nostr on, the
   * relays. `fresh`: past the HTTP cache (a revalidation, cheap with the
   * ETag), for a thread opening and the own document.
   */
  #sources(fqhn: () => string | null, fresh = false): ProfileSource[] {
    const list: ProfileSource[] = [];
    const split = (): { handle: string; server: string } | undefined => {
      const h = fqhn();
      const at = h?.lastIndexOf('@') ?? -1;
      return h && at > 0 ? { handle: h.slice(0, at), server: h.slice(at + 1) } : undefined;
    };
    if (this.#d.chat.transport !== 'nostr') {
      list.push(async (peer) => {
        const who = split();
        if (!who || who.server !== this.#d.server) return null;
        return fetchServerProfile(who.handle, this.#d.server, peer, this.#d.fetch, fresh);
      });
    }
    if (this.#d.chat.transport !== 'server' && this.#d.chat.relays.length) {
      list.push((peer) => fetchNostrProfile([...this.#d.chat.relays], peer, split()));
    }
    return list;
  }

  /** The newest own document the home server and relays hold (null: none, or none could be read). */
  async #published(): Promise<ProfilePayload | null> {
    const fqhn = `${this.#d.handle}@${this.#d.server}`;
    const found = await Promise.all(this.#sources(() => fqhn, true).map((s) => s(this.#d.primary).catch(() => null)));
    return newest(found);
  }

  async #recoverOwn(): Promise<void> {
    const best = await this.#published();
    if (this.#closed) return;
    if (!best) {
      // Tried again from #check, 2, 4, 8, 16 and 32 s later (RECOVERY_TRIES).
      const r = this.#recovery;
      this.#recovery = { tries: r.tries + 1, dueAt: this.#d.now().getTime() + 2_000 * 2 ** r.tries, running: false };
      return;
    }
    this.#recovery = { tries: RECOVERY_TRIES + 1, dueAt: 0, running: false };
    // A later try never replaces what this device saved or adopted meanwhile.
    if (this.own.updated_at && (!best.updated_at || best.updated_at <= this.own.updated_at)) return;
    await this.#adopt(best);
    if (!this.#closed) await this.#d.kv.set(this.#ownKey, $state.snapshot(this.own));
  }

  /** Take `best` (published by another device, or before a restore) as the own profile; its wraps are kept. */
  async #adopt(best: ProfilePayload): Promise<void> {
    const key = findKey(this.#d.seed, best.visual_keys);
    const shown = best.picture ? await this.#d.pictures.reveal(best.picture, key).catch(() => null) : null;
    this.own = {
      picture: shown?.clear ? shown.url : null,
      display_name: best.display_name,
      visual: !!key || !best.picture,
      key: key ? bytesToHex(key) : null,
      published: best.picture,
      // The same key: the contacts this device wrapped for still have theirs.
      wrapped_for: key && this.own.key === bytesToHex(key) ? this.own.wrapped_for : [],
      wraps: best.visual_keys,
      updated_at: best.updated_at,
    };
  }

  /**
   * Save and publish a new profile. `picture`: a new local picture (data
   * URL), null to remove it, undefined to keep it.
   */
  async save(change: { picture?: string | null; display_name: string; visual: boolean }): Promise<void> {
    const own: OwnProfile = { ...$state.snapshot(this.own), display_name: cleanDisplayName(change.display_name), visual: change.visual };
    if (change.picture !== undefined) own.picture = change.picture;
    if (own.picture && (change.picture !== undefined || change.visual !== this.own.visual || !own.published)) {
      const pub = await this.#d.pictures.publish(own.picture, own.visual);
      own.published = pub.picture;
      own.key = pub.key ? bytesToHex(pub.key) : null;
    } else if (!own.picture) {
      own.published = null;
      own.key = null;
    }
    this.own = own;
    // publish() first: it marks `publishing` at once, so the check loop does not start a second one.
    const published = this.publish(true);
    await this.#d.kv.set(this.#ownKey, $state.snapshot(this.own));
    await published;
  }

  /**
   * Sign and publish the own profile with a wrap for every contact (home
   * server, and nostr when on), starting from the document published now:
   * its wraps of the same key are kept and only new contacts get one
   * (SPEC §14.3). `explicit`: the user saved this device's profile (it wins);
   * otherwise a newer document from another device is adopted first.
   * Publishes run one after another (two at once would sign the same
   * `updated_at`, and the second would be refused as `stale_profile`).
   */
  publish(explicit = false): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#queued += 1;
    this.publishing = true;
    const run = this.#queue.then(() => this.#publishNow(explicit));
    this.#queue = run.finally(() => {
      this.#queued -= 1;
      if (this.#queued === 0) this.publishing = false;
    });
    return run;
  }

  async #publishNow(explicit: boolean): Promise<void> {
    if (this.#closed) return;
    try {
      const current = await this.#published();
      const theirs = current && (!this.own.updated_at || current.updated_at > this.own.updated_at) ? current : null;
      if (theirs && !explicit) await this.#adopt(theirs);
      const carried = theirs?.visual_keys ?? this.own.wraps ?? [];
      const contacts = contactsOf(this.#d.chat.conversations);
      const key = this.own.key ? fromHex(this.own.key, 32) : null;
      // Wraps are deterministic per reader: those the published list already holds are not added twice.
      const wraps = key ? nextWraps({ seed: this.#d.seed, key, own: this.#d.primary, carried, readers: contacts }) : [];
      const known = key && carriesKey(this.#d.seed, carried, key) ? this.own.wrapped_for : [];
      const updated_at = nextUpdatedAt(this.#d.now(), theirs?.updated_at ?? this.own.updated_at);
      const doc = buildProfile(this.#d.seed, {
        handle: this.#d.handle,
        server: this.#d.server,
        display_name: this.own.display_name,
        picture: this.own.published,
        visual_keys: wraps,
        updated_at,
      });
      await this.#send(doc);
      this.own.updated_at = updated_at;
      this.own.wrapped_for = [...new Set([...known, ...contacts])];
      this.own.wraps = wraps;
      await this.#d.kv.set(this.#ownKey, $state.snapshot(this.own));
      this.publishError = null;
      this.#failedAt = 0;
    } catch (e) {
      this.#failedAt = this.#d.now().getTime();
      this.publishError = 'Your profile could not be published. It will be tried again with your next change.';
      console.debug('profile publish failed:', (e as Error).message);
    }
  }

  async #send(doc: ReturnType<typeof buildProfile>): Promise<void> {
    const tasks: Promise<void>[] = [];
    const { transport, relays } = this.#d.chat;
    // The home server always gets it (contacts on transport `server` read it
    // there, SPEC §14.6); the kind 0 goes too when the transport uses relays.
    tasks.push(putProfile(doc, this.#d.fetch));
    if (transport !== 'server' && relays.length) tasks.push(this.#d.chat.publishMetadata(metadataContent(doc)).then(() => undefined));
    await Promise.any(tasks);
  }
}
