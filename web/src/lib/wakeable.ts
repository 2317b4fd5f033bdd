/**
 * Waits between attempts that `wakeAll()` ends early: the send queue's and
 * the copy queue's retries wait out a backoff, but the connection coming
 * back (or the store closing) should end every such wait at once.
 */
export class Wakeable {
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #wakers = new Set<() => void>();

  constructor(sleep: (ms: number) => Promise<void>) {
    this.#sleep = sleep;
  }

  /** Resolves after `ms`, or at the next wakeAll(), whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#wakers.delete(done);
        resolve();
      };
      this.#wakers.add(done);
      void this.#sleep(ms).then(done);
    });
  }

  /** Ends every wait in progress now. */
  wakeAll(): void {
    for (const w of [...this.#wakers]) w();
  }
}
