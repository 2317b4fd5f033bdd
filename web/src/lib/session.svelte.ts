// The identity of this browser: create / restore / unlock / lock, the
// persistent session, and the handle registered on this server.
import * as api from './api';
import { ApiError } from './api';
import { foldKez } from './handles';
import { generateSeed, phraseToSeed, primaryFromSeed, seedToPhrase, signString } from './identity';
import type { KV } from './kv';
import { buildRegistration } from './registration';
import { SeedStore } from './vault';
import { ChatStore } from './chat.svelte';
import { startProfiles, type Profiles } from './profile/start';
import { RouteMemory } from './lastroute';
import { sealedKV } from './sealedkv';
import { TabLock, tabLockName, type LockManagerLike } from './tablock';

export type SessionStatus = 'loading' | 'new' | 'locked' | 'unlocked';

interface Profile {
  handle: string;
  server: string;
}

export const MIN_PASSPHRASE = 8;

export class Session {
  status = $state<SessionStatus>('loading');
  primary = $state<string | null>(null);
  handle = $state<string | null>(null);
  server = $state('');
  chat = $state<ChatStore | null>(null);
  /** The profile store (own picture, peers' avatars; SPEC §14), alongside the chat store. */
  profiles = $state<Profiles | null>(null);
  /**
   * Unlocked, but another tab is the active one for this identity: no chat
   * store or inbox connection here until the user presses "Use here".
   */
  elsewhere = $state(false);

  /**
   * Set by unlock(): the route that was open before the lock (lastroute.ts),
   * for App to return to once; null otherwise.
   */
  resumeRoute = $state<string | null>(null);
  /** The current route, remembered (sealed) while unlocked; null while locked. */
  routes: RouteMemory | null = null;

  fqhn = $derived(this.handle && this.server ? `${this.handle}@${this.server}` : null);

  #seed: Uint8Array | null = null;
  #serverKnown = false;
  /** The last chat store's close() (lock waits for it before wiping the seed). */
  #chatClosed: Promise<void> = Promise.resolve();
  readonly #kv: KV;
  readonly #store: SeedStore;
  readonly #iterations?: number;
  readonly #locks: LockManagerLike | null;
  /** One active tab per identity (see tablock.ts); null until a chat store starts. */
  #tab: TabLock | null = null;
  /** The #startChat in progress (losing the tab lock waits for it). */
  #starting: Promise<void> = Promise.resolve();

  /** `locks`: navigator.locks in the browser; null (tests, old browsers) makes every tab active. */
  constructor(kv: KV, opts: { iterations?: number; locks?: LockManagerLike | null } = {}) {
    this.#kv = kv;
    this.#store = new SeedStore(kv);
    this.#iterations = opts.iterations;
    this.#locks = opts.locks ?? null;
  }

  async boot(): Promise<void> {
    const info = await api.serverInfo();
    this.server = info.server;
    this.#serverKnown = info.reachable;
    const vault = await this.#store.loadVault();
    if (!vault) {
      this.status = 'new';
      return;
    }
    this.primary = vault.primary;
    // The lock screen names the identity (handle@server): `profile:` is kept in clear (SPEC §8.2).
    const known = await this.#kv.get<Profile>(`profile:${vault.primary}`);
    if (known && (known.server === this.server || !this.#serverKnown)) this.handle = known.handle;
    const seed = await this.#store.resumeSession();
    if (seed && primaryFromSeed(seed) === vault.primary) {
      await this.#becomeUnlocked(seed);
    } else {
      this.status = 'locked';
    }
  }

  /** A fresh 32-byte seed and its 24-word phrase (not stored until `create`). */
  newSeed(): { seed: Uint8Array; phrase: string } {
    const seed = generateSeed();
    return { seed, phrase: seedToPhrase(seed) };
  }

  /** Store a brand-new identity (nothing to discover: it can't be registered yet). */
  async create(seed: Uint8Array, passphrase: string): Promise<void> {
    await this.#store.saveVault(seed, passphrase, primaryFromSeed(seed), this.#iterations);
    await this.#store.startSession(seed, primaryFromSeed(seed));
    await this.#becomeUnlocked(seed, false);
  }

  /** Re-create an identity from its phrase; its handle is looked up on this server. */
  async restore(phrase: string, passphrase: string): Promise<void> {
    const seed = phraseToSeed(phrase);
    await this.#store.saveVault(seed, passphrase, primaryFromSeed(seed), this.#iterations);
    await this.#store.startSession(seed, primaryFromSeed(seed));
    await this.#becomeUnlocked(seed);
  }

  async unlock(passphrase: string): Promise<void> {
    await this.unlockSeed(await this.#store.unlock(passphrase)); // throws WrongPassphraseError
  }

  /** Unlock with a seed opened another way (a passkey, passkey.ts); it must be the vault's identity. */
  async unlockSeed(seed: Uint8Array): Promise<void> {
    const vault = await this.#store.loadVault();
    if (!vault || primaryFromSeed(seed) !== vault.primary) throw new Error('That key belongs to another identity.');
    await this.#store.startSession(seed, primaryFromSeed(seed));
    this.resumeRoute = await new RouteMemory(sealedKV(this.#kv, seed), primaryFromSeed(seed)).recall();
    await this.#becomeUnlocked(seed);
  }

  /** Re-check the passphrase (fresh prompt) and return the recovery phrase. */
  async revealPhrase(passphrase: string): Promise<string> {
    const seed = await this.#store.unlock(passphrase);
    return seedToPhrase(seed);
  }

  /** Run `f` with the unlocked seed (passkey set-up seals it; passkey.ts). */
  async withSeed<T>(f: (seed: Uint8Array) => Promise<T>): Promise<T> {
    if (!this.#seed) throw new Error('Unlock first.');
    return f(this.#seed);
  }

  /** Sign an X-Kez-Auth string with the unlocked identity (push subscriptions). */
  sign(text: string): string {
    if (!this.#seed) throw new Error('Unlock first.');
    return signString(this.#seed, text);
  }

  /** Set by lock(): the lock screen then waits for a click instead of offering the passkey at once. */
  lockedHere = false;

  async lock(): Promise<void> {
    this.lockedHere = true;
    // The chat store shares the seed: let queued work finish (or stop) first,
    // or an ingest would open envelopes with a wiped seed and lose them. A
    // second lock() meanwhile waits for the same close.
    if (this.chat) this.#chatClosed = this.chat.close();
    this.chat = null;
    this.#stopProfiles();
    await this.#chatClosed;
    // Closed: another tab may become the active one (when its user asks).
    this.#tab?.release();
    this.elsewhere = false;
    await this.#store.endSession();
    this.#seed?.fill(0);
    this.#seed = null;
    this.routes = null;
    this.status = 'locked';
  }

  async #becomeUnlocked(seed: Uint8Array, discover = true): Promise<void> {
    this.#seed = seed;
    this.primary = primaryFromSeed(seed);
    this.routes = new RouteMemory(sealedKV(this.#kv, seed), this.primary);
    const profile = await this.#kv.get<Profile>(`profile:${this.primary}`);
    if (profile && !this.#serverKnown) {
      // Offline at boot: trust what we registered last time; the inbox reconnects later.
      this.server = profile.server;
      this.handle = profile.handle;
    } else if (profile && profile.server === this.server) {
      this.handle = profile.handle;
    } else {
      this.handle = null;
      if (discover) await this.#discoverHandle();
    }
    this.status = 'unlocked';
    if (this.handle) await this.#startChat();
  }

  /** After a restore the handle may already be registered: ask the directory. */
  async #discoverHandle(): Promise<void> {
    if (!this.primary) return;
    try {
      const rec = await api.lookupPrimary(this.primary);
      await this.#setHandle(rec.handle);
    } catch {
      /* not registered here (or offline) */
    }
  }

  async #setHandle(handle: string): Promise<void> {
    this.handle = handle;
    await this.#kv.set(`profile:${this.primary}`, { handle, server: this.server } satisfies Profile);
  }

  async register(handle: string): Promise<void> {
    if (!this.#seed) throw new Error('Unlock first.');
    // Typed in capitals: registered lower-cased (SPEC §3), the server never folds.
    const env = buildRegistration(this.#seed, foldKez(handle), this.server, api.serverNow());
    try {
      const rec = await api.register(env);
      await this.#setHandle(rec.handle);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'primary_taken') {
        await this.#discoverHandle();
        if (this.handle) {
          await this.#startChat();
          return;
        }
      }
      throw e;
    }
    await this.#startChat();
  }

  /** "Use here": take over from the tab that is active for this identity; it stops and shows the same notice. */
  async useHere(): Promise<void> {
    // Still closing after losing the lock (a quick click back): finish that first.
    await this.#chatClosed;
    await this.#startChat(true);
  }

  /** Start the chat store if this tab is (or, with `steal`, becomes) the active one. */
  #startChat(steal = false): Promise<void> {
    const run = this.#starting.then(() => this.#startChatNow(steal));
    this.#starting = run.catch(() => undefined);
    return run;
  }

  async #startChatNow(steal: boolean): Promise<void> {
    if (!this.#seed || !this.handle || !this.primary) return;
    await this.chat?.close();
    this.chat = null;
    this.#stopProfiles();
    const tab = this.#tabFor(this.primary);
    const held = await (steal ? tab.steal() : tab.acquire());
    // Locked while waiting for the lock (the seed is gone): let it go again,
    // or this tab would keep the identity's lock while showing Unlock.
    if (!this.#seed || this.status !== 'unlocked' || !this.handle) {
      if (held) tab.release();
      return;
    }
    // A steal can lose too: the other tab pressed "Use here" again meanwhile.
    if (!held) {
      this.elsewhere = true;
      return;
    }
    this.elsewhere = false;
    const advertisedRelays = await this.#advertisedRelays();
    const chat = new ChatStore({
      advertisedRelays,
      // NIP-11 documents of the advertised relays (SPEC §12; the CSP allows those origins).
      fetchRelayInfo: (input, init) => fetch(input, init),
      kv: sealedKV(this.#kv, this.#seed),
      // File bytes and buffered chunks: binary records sealed like the history (SPEC §13).
      files: this.#kv,
      me: { seed: this.#seed, primary: this.primary, handle: this.handle, server: this.server },
      // Auth `ts` and `sent_at` by the server's clock: a device clock more than
      // 5 minutes off would otherwise be refused (and its messages dropped).
      now: api.serverNow,
    });
    await chat.load();
    if (!tab.held) {
      // Taken over while loading: close before the other tab loads (#onTabLost waits for this run).
      await chat.close();
      return;
    }
    this.chat = chat;
    chat.connect();
    const me = { seed: this.#seed, primary: this.primary, handle: this.handle, server: this.server };
    this.profiles = startProfiles(sealedKV(this.#kv, this.#seed), me, chat, api.serverNow);
  }

  #stopProfiles(): void {
    this.profiles?.close();
    this.profiles = null;
  }

  /**
   * The relays the server advertises (SPEC §12 discovery), remembered for a
   * start while the server is unreachable; [] when it never said.
   */
  async #advertisedRelays(): Promise<string[]> {
    try {
      const d = await api.discovery();
      const relays = d.transports.includes('nostr') ? d.nostr_relays : [];
      await this.#kv.set('discovery:relays', relays);
      return relays;
    } catch {
      return (await this.#kv.get<string[]>('discovery:relays')) ?? [];
    }
  }

  #tabFor(primary: string): TabLock {
    const name = tabLockName(primary);
    if (this.#tab?.name === name) return this.#tab;
    this.#tab?.release(); // another identity was restored here
    this.#tab = new TabLock({ locks: this.#locks, name, onLost: () => this.#onTabLost() });
    return this.#tab;
  }

  /**
   * Another tab pressed "Use here": stop the chat store (its queued writes
   * finish first; the other tab waits for them before loading) and drop the
   * history held in memory.
   */
  #onTabLost(): Promise<void> {
    this.elsewhere = true;
    const closing = (async () => {
      await this.#starting; // a start in progress finishes (or notices) first
      const chat = this.chat;
      this.chat = null;
      this.#stopProfiles();
      this.elsewhere = true;
      await chat?.close();
    })();
    this.#chatClosed = closing;
    return closing;
  }
}
