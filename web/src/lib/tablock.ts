// One active tab per identity, like WhatsApp Web. Every tab keeps its own
// in-memory chat store and rewrites whole IndexedDB records, so two active
// tabs of one identity would overwrite each other's history (the last writer
// wins). The active tab holds the Web Lock `kez-chat:<primary>` for as long
// as its chat store runs; another tab asks with `ifAvailable` and, refused,
// waits for the user to press "Use here", which steals it (never by itself).
//
// A second lock, `<name>:open`, is held while a tab's chat store is open and
// released only once it has closed, so the tab taking over waits for the last
// write of the one it displaced before it loads history.

/** The part of the Web Locks API used here (navigator.locks, or a fake in tests). */
export interface LockManagerLike {
  request(
    name: string,
    options: { ifAvailable?: boolean; steal?: boolean; signal?: AbortSignal },
    callback: (lock: { name: string } | null) => unknown,
  ): Promise<unknown>;
}

/** navigator.locks, or null where the Web Locks API is missing (old browsers, plain http). */
export function browserLocks(): LockManagerLike | null {
  return typeof navigator !== 'undefined' && navigator.locks ? navigator.locks : null;
}

/** The lock name for an identity. */
export const tabLockName = (primary: string) => `kez-chat:${primary}`;

export interface TabLockOptions {
  /** null: no Web Locks here, so every tab is active (the behaviour before this lock). */
  locks: LockManagerLike | null;
  name: string;
  /** Another tab took over: stop writing (close the chat store). That tab waits for this to finish. */
  onLost: () => Promise<void> | void;
  /** How long a tab taking over waits for the displaced one to close (10 s; a frozen tab must not block it). */
  closeWaitMs?: number;
}

interface Hold {
  releaseMain: () => void;
  releaseOpen: (() => void) | null;
}

const noop = () => undefined;

export class TabLock {
  readonly name: string;
  readonly #locks: LockManagerLike | null;
  readonly #onLost: () => Promise<void> | void;
  readonly #closeWaitMs: number;
  /** The current hold (an object, so a late notice about an older hold is ignored). */
  #hold: Hold | null = null;
  /** acquire/steal one at a time (a click on "Use here" during a boot's acquire). */
  #taking: Promise<unknown> = Promise.resolve();

  constructor(opts: TabLockOptions) {
    this.name = opts.name;
    this.#locks = opts.locks;
    this.#onLost = opts.onLost;
    this.#closeWaitMs = opts.closeWaitMs ?? 10_000;
  }

  /** This tab is the active one (always, after acquire, without Web Locks). */
  get held(): boolean {
    return this.#hold !== null;
  }

  /** Become the active tab if no other tab is; false leaves the other one undisturbed. */
  acquire(): Promise<boolean> {
    return this.#serial(() => this.#take(false));
  }

  /**
   * "Use here": take over from whichever tab is active; resolves once that
   * tab has closed (or after closeWaitMs). False if yet another tab took it
   * back meanwhile.
   */
  steal(): Promise<boolean> {
    return this.#serial(() => this.#take(true));
  }

  /** Stop being the active tab (after the chat store closed, e.g. on lock). */
  release(): void {
    const h = this.#hold;
    this.#hold = null;
    h?.releaseOpen?.();
    h?.releaseMain();
  }

  /** A method, not `===` inline: TypeScript would keep its narrowing across the awaits. */
  #holds(hold: Hold): boolean {
    return this.#hold === hold;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#taking.then(fn, fn);
    this.#taking = p.catch(() => undefined);
    return p;
  }

  async #take(steal: boolean): Promise<boolean> {
    if (this.#hold) return true;
    const locks = this.#locks;
    if (!locks) {
      this.#hold = { releaseMain: noop, releaseOpen: null };
      return true;
    }
    const hold: Hold = { releaseMain: noop, releaseOpen: null };
    const held = new Promise<void>((r) => (hold.releaseMain = r));
    let granted = false;
    const answer = await new Promise<boolean | 'failed'>((decide) => {
      let req: Promise<unknown>;
      try {
        req = locks.request(this.name, steal ? { steal: true } : { ifAvailable: true }, (lock) => {
          if (!lock) {
            decide(false);
            return undefined;
          }
          granted = true;
          // Set now, not after the await: a steal may be noticed before that.
          this.#hold = hold;
          decide(true);
          return held;
        });
      } catch (e) {
        req = Promise.reject(e);
      }
      req.then(
        () => decide(false),
        (e: unknown) => {
          if (!granted) {
            // Refused outright (e.g. SecurityError in an opaque origin): behave as before.
            console.debug('tab lock unavailable:', e);
            decide('failed');
          } else if (this.#holds(hold)) {
            // AbortError: another tab stole it ("Use here" there).
            void this.#lost(hold);
          }
        },
      );
    });
    if (answer === 'failed') {
      this.#hold = { releaseMain: noop, releaseOpen: null };
      return true;
    }
    if (!answer || !this.#holds(hold)) return false;
    const releaseOpen = await this.#waitForClose(locks);
    if (!this.#holds(hold)) {
      // Stolen (or released) in the meantime: #lost ran with nothing open yet.
      releaseOpen();
      return false;
    }
    hold.releaseOpen = releaseOpen;
    return true;
  }

  /** Hold `<name>:open`, waiting (up to closeWaitMs) for a displaced tab to let go of it. */
  async #waitForClose(locks: LockManagerLike): Promise<() => void> {
    let release!: () => void;
    const open = new Promise<void>((r) => (release = r));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#closeWaitMs);
    await new Promise<void>((ready) => {
      locks
        .request(`${this.name}:open`, { signal: abort.signal }, () => {
          ready();
          return open;
        })
        .catch((e: unknown) => {
          console.debug('tab lock: not waiting any longer for the other tab to close:', e);
          ready();
        });
    });
    clearTimeout(timer);
    return release;
  }

  async #lost(hold: Hold): Promise<void> {
    this.#hold = null;
    try {
      await this.#onLost();
    } catch (e) {
      console.debug('tab lock: closing after losing the lock failed:', e);
    } finally {
      hold.releaseOpen?.();
    }
  }
}
