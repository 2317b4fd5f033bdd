// NIP-42 against the REAL relay (PyPI nostr-relay 1.14, NOSTR_RELAY_BIN;
// skipped without it): a relay configured to let only known, authenticated
// pubkeys read (`query: r`) and write (`save: w`), with the role given to
// alice's DERIVED nostr key only. A transport without the key can neither
// publish nor read; with it, it answers the relay's challenge and both work.
// Since only the derived key holds the role, the AUTH was signed by it (a
// one-time key would get the default anonymous role and stay refused).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool';
import type { Event } from 'nostr-tools/pure';
import { buildMessageEvent } from '../src/lib/nostr/events';
import { addr, nostrPublicKey, nostrSecretKey } from '../src/lib/nostr/keys';
import { NostrTransport, PublishError, type PoolLike } from '../src/lib/nostr/transport';
import { aliceSeed } from './chat-fixture';

const BIN = process.env.NOSTR_RELAY_BIN;
const PRIMARY = 'ed25519:' + '33'.repeat(32);
const sk = nostrSecretKey(aliceSeed);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The packaged config (as e2e/scenarios/nostr.mjs) with NIP-42 on: read and write need roles r and w. */
function config(dir: string, port: number): string {
  return `DEBUG: false
relay_name: auth test relay
relay_description: kez-chat NIP-42 test
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
  enabled: true
  relay_urls:
    - ws://127.0.0.1:${port}
    - ws://127.0.0.1:${port}/
  actions:
    save: w
    query: r
message_timeout: 1800
subscription_limit: 64
max_limit: 6000
`;
}

let child: ChildProcess | undefined;
let dir = '';
let url = '';

/** Until `cond()` or `ms` have passed (no fixed sleeps: the condition is polled). */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

function transport(authKey?: Uint8Array): NostrTransport {
  const pool = new SimplePool({ enablePing: false }) as unknown as PoolLike;
  return new NostrTransport({ relays: [url], pool, stateEveryMs: 0, authKey, resubscribeMs: 60_000 });
}

describe.skipIf(!BIN)('NIP-42 on a real relay that requires AUTH', () => {
  beforeAll(async () => {
    useWebSocketImplementation(WebSocket);
    dir = mkdtempSync(join(tmpdir(), 'kez-relay-auth-'));
    const port = await freePort();
    const conf = join(dir, 'config.yaml');
    writeFileSync(conf, config(dir, port));
    child = spawn(BIN!, ['-c', conf, 'serve'], { cwd: dir, stdio: 'ignore' });
    const up = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'application/nostr+json' } })).ok;
      } catch {
        return false;
      }
    };
    const end = Date.now() + 40_000;
    while (!(await up())) {
      if (Date.now() > end || child.exitCode !== null) throw new Error('nostr-relay did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The serving relay made its tables; it reads roles at each AUTH.
    execFileSync(BIN!, ['-c', conf, 'role', 'set', '-p', nostrPublicKey(sk), '-r', 'rw'], { cwd: dir, stdio: 'pipe' });
    url = `ws://127.0.0.1:${port}/`;
  }, 60_000);

  afterAll(() => {
    if (child?.pid) {
      try {
        execFileSync('pkill', ['-KILL', '-P', String(child.pid)]);
      } catch {
        /* none left */
      }
      child.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without the derived key: publish refused, nothing read', async () => {
    const t = transport();
    const err = await t.publish(buildMessageEvent({ v: 2, ct: 'anon' }, addr(PRIMARY), Math.floor(Date.now() / 1000))).catch((e: unknown) => e);
    // nostr-relay 1.14 answers the refusal with an empty event id: nostr-tools sees a timeout.
    expect(err).toBeInstanceOf(PublishError);
    t.close();
  }, 30_000);

  it('with it: AUTH answered, the event published (one-time key) and read back, the refused one absent', async () => {
    const writer = transport(sk);
    const ev = buildMessageEvent({ v: 2, ct: 'authed' }, addr(PRIMARY), Math.floor(Date.now() / 1000));
    expect(await writer.publish(ev)).toEqual({ relay: url });
    expect(ev.pubkey).not.toBe(nostrPublicKey(sk));
    writer.close();

    const anon = transport();
    const anonGot: Event[] = [];
    anon.subscribe(addr(PRIMARY), 0, (e) => anonGot.push(e));
    const reader = transport(sk);
    const got: Event[] = [];
    reader.subscribe(addr(PRIMARY), 0, (e) => got.push(e));
    expect(await until(() => got.length > 0, 20_000)).toBe(true);
    expect(got.map((e) => e.id)).toEqual([ev.id]);
    // The anonymous reader was refused by a NOTICE and has no key to answer with.
    expect(await until(() => anon.problems[url] === 'auth_required', 20_000)).toBe(true);
    expect(anonGot).toEqual([]);
    reader.close();
    anon.close();
  }, 60_000);
});
