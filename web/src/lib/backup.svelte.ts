// The reactive backup reminder: the chat list's banner and Settings read
// `pending`; onboarding and Settings call defer()/done().
import { BackupStore } from './backup';
import type { KV } from './kv';

export class BackupReminder {
  /** The loaded identity's phrase still needs a backup ("Later" was chosen). */
  pending = $state(false);
  #primary: string | null = null;
  readonly #store: BackupStore;

  constructor(kv: KV) {
    this.#store = new BackupStore(kv);
  }

  /** Read the flag of `primary` (call when the identity is known). */
  async load(primary: string): Promise<void> {
    this.#primary = primary;
    const p = await this.#store.isPending(primary);
    if (this.#primary === primary) this.pending = p;
  }

  async defer(primary: string): Promise<void> {
    await this.#store.defer(primary);
    this.#primary = primary;
    this.pending = true;
  }

  async done(primary: string, how: 'quiz' | 'saved' | 'restore'): Promise<void> {
    await this.#store.done(primary, how);
    if (this.#primary === primary || this.#primary === null) this.pending = false;
    this.#primary = primary;
  }
}
