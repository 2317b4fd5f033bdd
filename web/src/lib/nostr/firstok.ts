// The race of one event's publishes across relays (SPEC §12): which relay
// the message was "sent via".

/** Thrown by publish() when no relay accepted the event. */
export class PublishError extends Error {
  constructor(public readonly reasons: string[]) {
    super('No relay accepted the message.');
    this.name = 'PublishError';
  }
}

/**
 * The relay of the first attempt to succeed; with `awaitFirst` (the peer's
 * relay is relays[0]) that one's answer is awaited first and wins if it is OK.
 */
export function firstOk(relays: string[], attempts: Promise<void>[], awaitFirst: boolean, onOk: (relay: string) => void): Promise<{ relay: string }> {
  return new Promise((resolve, reject) => {
    const outcome: (boolean | undefined)[] = attempts.map(() => undefined);
    const reasons: string[] = new Array(attempts.length);
    let done = false;
    const settle = () => {
      if (done) return;
      for (let i = 0; i < outcome.length; i++) {
        // Earlier ones (the preferred relay) are awaited first.
        if (awaitFirst && i === 0 && outcome[0] === undefined) return;
        if (outcome[i]) {
          done = true;
          resolve({ relay: relays[i] });
          return;
        }
      }
      if (outcome.every((o) => o === false)) {
        done = true;
        reject(new PublishError(reasons));
      }
    };
    attempts.forEach((p, i) =>
      p.then(
        () => {
          onOk(relays[i]);
          outcome[i] = true;
          settle();
        },
        (e: unknown) => {
          reasons[i] = `${relays[i]}: ${e instanceof Error ? e.message : String(e)}`;
          outcome[i] = false;
          settle();
        },
      ),
    );
  });
}
