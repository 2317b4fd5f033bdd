// The linked-accounts store (lib/claims.svelte.ts) and the home server's verdicts: matched to
// verified claims only, adding and revoking, checking again (no-cache), 429/503/offline answers.
import { describe, expect, it, vi } from 'vitest';
import { claimRows, parseVerdicts, readChainAt, readVerdicts, reasonText, recheckWhen } from '../src/lib/claims';
import { appendLink } from '../src/lib/claims-append';
import { LinkedAccounts } from '../src/lib/claims.svelte';
import { Chain } from '../src/lib/sigchain';
import { ChainServer, NOW, deps, ghClaim, primary, webClaim } from './claims-fixture';

describe('verdicts', () => {
  it('shows a verdict only beside the very link and claim it names', async () => {
    const s = new ChainServer(primary);
    const a = await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    const b = await appendLink(primary, { op: 'add', claim: webClaim }, deps(s));
    const v = (link: string, name: string, status = 'verified') => ({ link, service: name.includes('.') ? 'https' : 'github', name, status, reason: 'ok', checked_at: '2026-05-25T03:00:00Z' });
    const verdicts = parseVerdicts(JSON.stringify({ primary, proofs: [v(a.hash, 'alice-kez'), v(a.hash, 'alice.example'), v('f'.repeat(64), 'x.example')] }), primary);
    const rows = claimRows(s.chain, verdicts);
    expect(rows.map((r) => r.verdict?.status ?? null)).toEqual(['verified', null]);
    expect(rows[1].link).toBe(b.hash);
    // Another key's answer, a bad status or shape: nothing.
    expect(parseVerdicts(JSON.stringify({ primary: 'ed25519:00', proofs: [v(a.hash, 'alice-kez')] }), primary)).toEqual([]);
    expect(parseVerdicts(JSON.stringify({ primary, proofs: [{ ...v(a.hash, 'alice-kez'), status: 'trusted' }, 7, null] }), primary)).toEqual([]);
    expect(parseVerdicts('<html>', primary)).toEqual([]);
    expect(parseVerdicts(JSON.stringify({ primary, proofs: [{ ...v(a.hash, 'alice-kez'), checked_at: 'x'.repeat(5000) }] }), primary)).toEqual([]);
  });

  it('the store shows a chain that fails verification as such, never with the server’s verified', async () => {
    const s = new ChainServer(primary);
    const a = await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    s.verdicts = [{ link: a.hash, service: 'github', name: 'Alice-Kez', status: 'verified', reason: 'ok', checked_at: '2026-05-25T03:00:00Z' }];
    const store = new LinkedAccounts(primary, { fetch: s.fetch, now: () => NOW });
    await store.load();
    expect(store.state).toBe('ok');
    expect(store.rows[0].verdict?.status).toBe('verified');
    const broken = structuredClone(s.links) as { payload: { body: { claim: { name: string } } } }[];
    broken[0].payload.body.claim.name = 'Mallory';
    s.getBody = JSON.stringify({ primary, links: broken });
    await store.load();
    expect(store.state).toBe('invalid');
    expect(store.rows).toEqual([]);
    expect(store.problem).toMatch(/failed verification on this device/);
  });

  it('the store adds and revokes through the server and reads again; a peer’s store cannot', async () => {
    const s = new ChainServer(primary);
    const store = new LinkedAccounts(primary, deps(s));
    await store.load();
    expect(store.state).toBe('ok');
    await store.add(webClaim);
    expect(store.rows.map((r) => r.claim.name)).toEqual(['alice.example']);
    await store.revoke(store.rows[0].link);
    expect(store.rows).toEqual([]);
    const peer = new LinkedAccounts(primary, { fetch: s.fetch, now: () => NOW });
    await expect(peer.add(webClaim)).rejects.toMatchObject({ code: 'read_only' });
  });

  it('adding reads and verifies the chain once: the appended chain is shown, not read again (TODO #210)', async () => {
    const s = new ChainServer(primary);
    await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    const store = new LinkedAccounts(primary, deps(s));
    await store.load();
    const chainUrl = `/v1/sigchains/ed25519/${primary.slice(8)}`;
    const reads = () => s.gets.filter((g) => g.url === chainUrl).length;
    const before = reads();
    const pushes = vi.spyOn(Chain.prototype, 'push');
    try {
      await store.add(webClaim);
      // One read verifying the one stored link, then the new link added to that chain (the
      // stand-in server's own chain aside).
      expect(reads() - before).toBe(1);
      expect(pushes.mock.contexts.filter((c) => c !== s.chain)).toHaveLength(2);
    } finally {
      pushes.mockRestore();
    }
    expect(store.state).toBe('ok');
    expect(store.rows.map((r) => r.link)).toEqual(s.chain.activeClaims().map((c) => c.link));
    expect(store.rows.map((r) => r.claim.name)).toEqual(['Alice-Kez', 'alice.example']);
    expect(s.gets.at(-1)?.url).toBe(`${chainUrl}/proofs`);
  });

  it('reasons are words', () => {
    expect(reasonText({ reason: 'wrong_owner', service: 'github' })).toBe('That gist belongs to another GitHub user.');
    expect(reasonText({ reason: 'http_301', service: 'https' })).toMatch(/redirected/);
    expect(reasonText({ reason: 'http_503', service: 'https' })).toMatch(/HTTP 503/);
    expect(reasonText({ reason: 'bad_statement', detail: 'invalid_signature', service: 'dns' })).toMatch(/TXT record.*signature/);
    expect(reasonText({ reason: 'something_new', service: 'dns' })).not.toMatch(/something_new/);
  });
});

describe('checking again (review B1, S2, S3)', () => {
  const hex = primary.slice('ed25519:'.length);
  const proofsUrl = `/v1/sigchains/ed25519/${hex}/proofs`;
  const failed = (link: string, recheck_at?: string) => ({
    link, service: 'https', name: 'alice.example', status: 'failed', reason: 'not_found', checked_at: '2026-05-25T03:00:00Z', ...(recheck_at ? { recheck_at } : {}),
  });

  it('“Check again” asks the server for a fresh check (Cache-Control: no-cache); a plain read does not', async () => {
    const s = new ChainServer(primary);
    const store = new LinkedAccounts(primary, deps(s));
    await store.load();
    await store.recheck();
    const [plain, fresh] = s.gets.filter((g) => g.url === proofsUrl).map((g) => g.init);
    expect(new Headers(plain?.headers).get('cache-control')).toBeNull();
    expect(plain?.cache).not.toBe('no-store'); // a no-store fetch would make the browser add no-cache itself
    expect(new Headers(fresh?.headers).get('cache-control')).toBe('no-cache');
  });

  it('says when the server will look at a failed proof again', async () => {
    const s = new ChainServer(primary);
    const a = await appendLink(primary, { op: 'add', claim: webClaim }, deps(s));
    s.verdicts = [failed(a.hash, '2026-05-25T03:00:30Z')];
    expect(parseVerdicts(JSON.stringify({ primary, proofs: s.verdicts }), primary)[0].recheck_at).toBe('2026-05-25T03:00:30Z');
    expect(recheckWhen({ status: 'failed', recheck_at: '2026-05-25T03:00:30Z' }, NOW)).toMatch(/^after /);
    expect(recheckWhen({ status: 'failed', recheck_at: '2026-05-25T02:59:00Z' }, NOW)).toBeNull();
    expect(recheckWhen({ status: 'verified', recheck_at: '2026-05-25T03:00:30Z' }, NOW)).toBeNull();
  });

  it('a 429 is “busy” with the Retry-After wait, and the store waits that long before the next check', async () => {
    const s = new ChainServer(primary);
    s.intercept = (url) => (url === proofsUrl ? new Response('{"error":"rate_limited"}', { status: 429, headers: { 'Retry-After': '30' } }) : undefined);
    expect(await readVerdicts(s.fetch, primary)).toEqual({ kind: 'unavailable', message: 'The server is busy. Try again in 30 seconds.', retryAfter: 30 });
    const store = new LinkedAccounts(primary, deps(s));
    await store.load();
    expect(store.waitUntil).toBeGreaterThan(Date.now());
    expect(store.waitText).toMatch(/try again in \d+ seconds/);
    const chain429 = await readChainAt(async () => new Response('', { status: 429 }), '/x', primary);
    expect(chain429).toMatchObject({ kind: 'unreachable', message: 'The server is busy. Try again in a minute.' });
  });

  it('a timeout is named as one, not as a connection problem', async () => {
    const timedOut = async () => Promise.reject(new DOMException('signal timed out', 'TimeoutError'));
    expect(await readChainAt(timedOut, '/x', primary)).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/didn’t answer within 15 seconds/) });
  });

  it('a failed refresh keeps the rows and verdicts shown, with a note; failed verdicts keep the earlier ones', async () => {
    const s = new ChainServer(primary);
    const a = await appendLink(primary, { op: 'add', claim: webClaim }, deps(s));
    s.verdicts = [failed(a.hash)];
    const store = new LinkedAccounts(primary, deps(s));
    await store.load();
    s.intercept = (url) => (url === proofsUrl ? new Response('', { status: 503 }) : undefined);
    await store.recheck();
    expect(store.rows[0].verdict?.status).toBe('failed');
    expect(store.verdictsProblem).toMatch(/had a problem/);
    s.intercept = () => Promise.reject(new TypeError('Failed to fetch'));
    await store.recheck();
    expect(store.state).toBe('ok');
    expect(store.rows.map((r) => r.claim.name)).toEqual(['alice.example']);
    expect(store.stale).toMatch(/^Couldn’t refresh: Couldn’t reach the server.*Showing what was read at /);
  });

  it('a chain kept by another service (--sig-server-url) is read there, and no proof check is asked of this server', async () => {
    const s = new ChainServer(primary);
    const store = new LinkedAccounts(primary, { ...deps(s), locate: async () => 'https://sig.example/v1/sigchains/ed25519/x' });
    s.intercept = (url) => (url.startsWith('https://sig.example/') ? new Response(JSON.stringify({ primary, links: [] })) : undefined);
    await store.load();
    expect(store.state).toBe('ok');
    expect(s.gets.map((g) => g.url)).toEqual(['https://sig.example/v1/sigchains/ed25519/x']);
    expect(store.verdictsProblem).toMatch(/kept by another service/);
  });

  it('the two bounds: a 400 (legacy key) is no chain; a reason past 64 characters drops the verdict', async () => {
    expect(await readChainAt(async () => new Response('{"error":"invalid_key"}', { status: 400 }), '/x', primary)).toEqual({ kind: 'none' });
    const v = { ...failed('a'.repeat(64)), reason: 'x'.repeat(65) };
    expect(parseVerdicts(JSON.stringify({ primary, proofs: [v] }), primary)).toEqual([]);
    expect(parseVerdicts(JSON.stringify({ primary, proofs: [{ ...v, reason: 'x'.repeat(64) }] }), primary)).toHaveLength(1);
  });
});
