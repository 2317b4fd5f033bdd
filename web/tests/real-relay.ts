// The REAL nostr relay for Vitest (PyPI nostr-relay 1.14, NOSTR_RELAY_BIN;
// suites skip without it unless KEZ_REQUIRE_NOSTR): started on a free port
// with its own SQLite file, killed (gunicorn's worker too) and started again
// on the same port and database, as a relay restart. Config, start and kill
// are the e2e's (e2e/nostr-relay.mjs), so both run the same relay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answers, freePort, startRelay, type Relay } from '../e2e/nostr-relay.mjs';

export { freePort };

export const RELAY_BIN = process.env.NOSTR_RELAY_BIN;
/** Skip a suite without the relay, unless the run requires it (scripts/test). */
export const NO_RELAY = !RELAY_BIN && !process.env.KEZ_REQUIRE_NOSTR;

/** Until `cond()` or `ms` have passed (no fixed sleeps: the condition is polled). */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

/** One relay process; `start()` again after `kill()` reuses port and database. */
export class RealRelay {
  readonly dir = mkdtempSync(join(tmpdir(), 'kez-vitest-relay-'));
  port = 0;
  #relay: Relay | undefined;

  constructor(public auth?: string) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** Its config file (written by `startRelay`), for the relay's own CLI. */
  get conf(): string {
    return join(this.dir, 'config.yaml');
  }

  /** Start and wait (40 s at most) until it answers NIP-11. */
  async start(): Promise<void> {
    this.port ||= await freePort();
    this.#relay = await startRelay(RELAY_BIN!, { dir: this.dir, port: this.port, auth: this.auth });
  }

  /**
   * SIGKILL the relay's whole process group at once (master and worker):
   * killing the worker first let the master fork a new one that outlived it
   * holding the port. Resolves once nothing answers on the port.
   */
  async kill(): Promise<void> {
    this.#relay?.kill();
    this.#relay = undefined;
    const end = Date.now() + 20_000;
    while ((await answers(this.port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
