// The REAL nostr relay (PyPI nostr-relay 1.14, NOSTR_RELAY_BIN) as a child
// process, for the e2e scenarios and for Vitest (tests/real-relay.ts): one
// config and one start/kill, so the two runs test against the same relay
// (TODO #87). Plain node: no browser, no kez server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port that was free a moment ago (the relay can't bind port 0 itself). @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/** The `authentication:` block of a relay without NIP-42 AUTH. */
export const NO_AUTH = '  enabled: false\n';

/**
 * The packaged config with our port and database, no control socket (as
 * tests/api/helpers/nostr_relay.rs), `auth` as its `authentication:` block,
 * plus `extra` YAML (e.g. `max_event_size` for file chunks).
 * @param {string} dir @param {number} port @param {{ auth?: string, extra?: string }} [opts]
 */
export function relayConfig(dir, port, { auth = NO_AUTH, extra = '' } = {}) {
  const db = join(dir, 'relay.sqlite3');
  return `DEBUG: false
relay_name: test relay
relay_description: kez-chat tests
storage:
  sqlalchemy.url: sqlite+aiosqlite:///${db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
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
hellthread_limit: 100
${extra}`;
}

/**
 * @typedef {{ url: string, port: number, dir: string, kill: () => void, cleanup: () => void, output: () => string }} Relay
 */

/**
 * Starts the relay (on `port` if given, else a free one, tried up to five
 * times; `dir` holds its config and database, a new temporary one if not
 * given: pass a killed relay's `dir` and `port` to start it again) and waits
 * (40 s at most) until it answers NIP-11.
 * @param {string} bin @param {{ dir?: string, port?: number, auth?: string, extra?: string }} [opts]
 * @returns {Promise<Relay>}
 */
export async function startRelay(bin, { dir = mkdtempSync(join(tmpdir(), 'kez-relay-')), port: fixedPort = 0, auth, extra } = {}) {
  for (let attempt = 0; attempt < (fixedPort ? 1 : 5); attempt++) {
    const port = fixedPort || (await freePort());
    const conf = join(dir, 'config.yaml');
    writeFileSync(conf, relayConfig(dir, port, { auth, extra }));
    // Its own process group, killed whole (see killGroup).
    const child = spawn(bin, ['-c', conf, 'serve'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const kill = () => killGroup(child);
    for (let i = 0; i < 400 && child.exitCode === null; i++) {
      if (await answers(port)) {
        return { url: `ws://127.0.0.1:${port}`, port, dir, kill, cleanup: () => rmSync(dir, { recursive: true, force: true }), output: () => out };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    kill();
  }
  throw new Error(`nostr-relay did not start${fixedPort ? ` again on ${fixedPort}` : ' after 5 ports'}`);
}

/** Whether a relay answers NIP-11 on `port` (1 s at most). @param {number} port */
export async function answers(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'application/nostr+json' }, signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/**
 * SIGKILL a relay started `detached` and every process of its group at once.
 * Killing gunicorn's worker first and then its master let the master fork a
 * new worker in between, which outlived it holding the port (a CI run's
 * "port … stayed busy").
 * @param {import('node:child_process').ChildProcess} child
 */
export function killGroup(child) {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Until nothing listens on `port` (a killed relay's socket is gone). @param {number} port */
export async function portFree(port) {
  for (let i = 0; i < 100; i++) {
    const free = await new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} stayed busy`);
}
