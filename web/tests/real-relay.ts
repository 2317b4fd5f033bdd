// The REAL nostr relay for Vitest (PyPI nostr-relay 1.14, NOSTR_RELAY_BIN;
// suites skip without it unless KEZ_REQUIRE_NOSTR): started on a free port
// with its own SQLite file, killed (gunicorn's worker too) and started again
// on the same port and database, as a relay restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RELAY_BIN = process.env.NOSTR_RELAY_BIN;
/** Skip a suite without the relay, unless the run requires it (scripts/test). */
export const NO_RELAY = !RELAY_BIN && !process.env.KEZ_REQUIRE_NOSTR;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The packaged config (as e2e/scenarios/nostr.mjs) with `auth` as its `authentication:` block. */
export function relayConfig(dir: string, port: number, auth = '  enabled: false\n'): string {
  return `DEBUG: false
relay_name: vitest relay
relay_description: kez-chat vitest
storage:
  sqlalchemy.url: sqlite+aiosqlite:///${join(dir, 'relay.sqlite3')}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
  expiration: 86400
  update_frequency: 3600
gunicorn:
  bind: 127.0.0.1:${port}
  workers: 1
  loglevel: warning
  reload: false
  control_socket_disable: true
  graceful_timeout: 1
purple:
  host: 127.0.0.1
  port: ${port}
  workers: 1
  disable_compression: true
authentication:
${auth}message_timeout: 1800
subscription_limit: 64
max_limit: 6000
`;
}

/** Until `cond()` or `ms` have passed (no fixed sleeps: the condition is polled). */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'application/nostr+json' }, signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** One relay process; `start()` again after `kill()` reuses port and database. */
export class RealRelay {
  readonly dir = mkdtempSync(join(tmpdir(), 'kez-vitest-relay-'));
  port = 0;
  #child: ChildProcess | undefined;

  constructor(public auth?: string) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get conf(): string {
    return join(this.dir, 'config.yaml');
  }

  /** Start and wait (40 s at most) until it answers NIP-11. */
  async start(): Promise<void> {
    this.port ||= await freePort();
    writeFileSync(this.conf, relayConfig(this.dir, this.port, this.auth));
    // Its own process group, killed whole (see kill).
    const child = spawn(RELAY_BIN!, ['-c', this.conf, 'serve'], { cwd: this.dir, stdio: 'ignore', detached: true });
    this.#child = child;
    const end = Date.now() + 40_000;
    while (!(await answers(this.port))) {
      if (Date.now() > end || child.exitCode !== null) throw new Error('nostr-relay did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * SIGKILL the relay's whole process group at once (master and worker):
   * killing the worker first let the master fork a new one that outlived it
   * holding the port. Resolves once nothing answers on the port.
   */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child?.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const end = Date.now() + 20_000;
    while ((await answers(this.port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
