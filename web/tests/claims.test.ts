// Linked accounts (lib/claims.ts, lib/claims.svelte.ts): reading a chain bounded and verified on
// this device, the home server's verdicts matched to verified claims only, what to publish where,
// and appends against a stand-in server that applies SPEC §15.3's rules (409 once, then retry).
import { describe, expect, it, vi } from 'vitest';
import {
  MAX_CHAIN_BODY,
  readVerdicts,
  recheckWhen,
  chainUrl,
  claimRows,
  gistProof,
  locateChain,
  nameProblem,
  parseVerdicts,
  placement,
  readBounded,
  readChainAt,
  reasonText,
  txtStrings,
  txtZoneLine,
  type Fetch,
} from '../src/lib/claims';
import { appendLink, linkTime } from '../src/lib/claims-append';
import { LinkedAccounts } from '../src/lib/claims.svelte';
import { ApiError } from '../src/lib/api';
import { primaryFromSeed } from '../src/lib/identity';
import { jcs } from '../src/lib/jcs';
import { Chain, VERIFY_SLICE, buildProof, linkHash, readChain, readChainYielding, signLink, verifyLink, verifyProof, type LinkPayload } from '../src/lib/sigchain';
import { hexSeed, loadJson, seedFor, vectorPath } from './helpers';

const doc = loadJson(vectorPath('sigchain.json'));
const NOW = new Date('2026-05-25T03:00:00Z');

/** A home server for one key: GET/POST of its chain (rules checked as the server does), its proofs answer. */
class ChainServer {
  links: unknown[] = [];
  chain: Chain;
  posts: unknown[] = [];
  /** Links another device appends just before our next POST lands (a race). */
  raceWith: ((server: ChainServer) => void)[] = [];
  verdicts: unknown[] = [];
  postStatus: number | null = null;
  getBody: string | null = null;
  /** Every GET's URL and init, in order. */
  gets: { url: string; init?: RequestInit }[] = [];
  /** Answers a GET instead of the server when it returns one. */
  intercept: ((url: string) => Response | Promise<Response> | undefined) | null = null;

  constructor(readonly primary: string) {
    this.chain = new Chain(primary);
  }

  store(link: unknown) {
    const l = verifyLink(link);
    this.chain.push(l);
    this.links.push(link);
    return l;
  }

  fetch: Fetch = async (url, init) => {
    const hex = this.primary.slice('ed25519:'.length);
    if (init?.method === 'POST') {
      if (url !== `/v1/sigchains/ed25519/${hex}`) return new Response('{"error":"not_found"}', { status: 404 });
      const race = this.raceWith.shift();
      if (race) race(this);
      if (this.postStatus) return new Response(JSON.stringify({ error: 'rate_limited' }), { status: this.postStatus, headers: { 'Retry-After': '42' } });
      const link = JSON.parse(init.body as string);
      this.posts.push(link);
      const l = verifyLink(link, NOW);
      if (l.payload.seq !== this.chain.length + 1 || l.payload.prev !== this.chain.head) return new Response('{"error":"chain_conflict"}', { status: 409 });
      try {
        this.store(link);
      } catch (e) {
        return new Response(JSON.stringify({ error: (e as { code: string }).code }), { status: 422 });
      }
      return new Response(JSON.stringify({ seq: l.payload.seq, hash: l.hash }), { status: 201 });
    }
    this.gets.push({ url, init });
    const odd = this.intercept?.(url);
    if (odd) return odd;
    if (url === `/v1/sigchains/ed25519/${hex}`) return new Response(this.getBody ?? JSON.stringify({ primary: this.primary, links: this.links }));
    if (url === `/v1/sigchains/ed25519/${hex}/proofs`) return new Response(JSON.stringify({ primary: this.primary, proofs: this.verdicts }));
    return new Response('{"error":"not_found"}', { status: 404 });
  };
}

const seed = seedFor('claims');
const primary = primaryFromSeed(seed);
const sign = async (p: LinkPayload) => signLink(seed, p);
const deps = (s: ChainServer) => ({ fetch: s.fetch, now: () => NOW, sign });
const ghClaim = { service: 'github' as const, name: 'Alice-Kez', proof: 'https://gist.github.com/Alice-Kez/0123456789abcdef0123' };
const webClaim = { service: 'https' as const, name: 'alice.example', proof: 'https://alice.example/.well-known/kez-proof.txt' };

describe('appendLink', () => {
  it('adds, then revokes, each link signed on the verified head', async () => {
    const s = new ChainServer(primary);
    const first = await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    const second = await appendLink(primary, { op: 'add', claim: webClaim }, deps(s));
    await appendLink(primary, { op: 'revoke', link: first.hash }, deps(s));
    expect(s.chain.length).toBe(3);
    expect(s.chain.activeClaims().map((c) => c.link)).toEqual([second.hash]);
    expect(s.links[1]).toMatchObject({ payload: { seq: 2, prev: first.hash } });
  });

  it('after a 409 reads the chain again and signs once more, on top of the other device’s link', async () => {
    const s = new ChainServer(primary);
    s.raceWith.push((srv) => srv.store(signLink(seed, { ...basePayload(1, null), body: { op: 'add', claim: webClaim } })));
    const r = await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    expect(r.hash).toBe(s.chain.head);
    expect(s.posts).toHaveLength(2);
    expect(s.links[1]).toMatchObject({ payload: { seq: 2 } });
  });

  it('gives up after a second 409, in words', async () => {
    const s = new ChainServer(primary);
    const other = (seq: number, name: string) => (srv: ChainServer) =>
      srv.store(signLink(seed, { ...basePayload(seq, srv.chain.head), body: { op: 'add', claim: { service: 'dns', name, proof: `dns:_kez.${name}` } } }));
    s.raceWith.push(other(1, 'a.example'), other(2, 'b.example'));
    await expect(appendLink(primary, { op: 'add', claim: ghClaim }, deps(s))).rejects.toMatchObject({ code: 'chain_conflict', message: expect.stringMatching(/changed elsewhere/) });
  });

  it('refuses a duplicate (GitHub logins fold case) here, before anything is posted', async () => {
    const s = new ChainServer(primary);
    await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    const lower = { ...ghClaim, name: 'alice-kez', proof: 'https://gist.github.com/alice-kez/0123456789abcdef0123' };
    await expect(appendLink(primary, { op: 'add', claim: lower }, deps(s))).rejects.toMatchObject({ code: 'duplicate_claim', message: 'That account is already linked.' });
    expect(s.posts).toHaveLength(1);
  });

  it('a rate limit is a sentence with the wait', async () => {
    const s = new ChainServer(primary);
    s.postStatus = 429;
    await expect(appendLink(primary, { op: 'add', claim: ghClaim }, deps(s))).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 42, message: 'Too many changes in a short time. Try again in 42 seconds.' });
  });

  it('never signs on top of a chain that does not verify', async () => {
    const s = new ChainServer(primary);
    await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    s.getBody = JSON.stringify({ primary, links: [{ ...(s.links[0] as object), signature: { alg: 'ed25519-sha512-jcs', key: primary, sig: '00'.repeat(64) } }] });
    await expect(appendLink(primary, { op: 'add', claim: webClaim }, deps(s))).rejects.toMatchObject({ code: 'broken_chain' });
    expect(s.posts).toHaveLength(1);
  });

  it('never dates a link before the head (a clock running behind)', () => {
    expect(linkTime(new Date('2026-05-25T03:00:00.700Z'), Date.parse('2026-05-25T03:04:00Z'))).toBe('2026-05-25T03:04:00Z');
    expect(linkTime(new Date('2026-05-25T03:00:00.700Z'), null)).toBe('2026-05-25T03:00:00Z');
  });
});

function basePayload(seq: number, prev: string | null): Omit<LinkPayload, 'body'> {
  return { type: 'kez.sigchain.link', version: 1, primary, seq, prev, created_at: '2026-05-25T03:00:00Z' };
}

describe('readChainAt', () => {
  it('verifies against the trusted key, not the answer’s own primary', async () => {
    const s = new ChainServer(primary);
    await appendLink(primary, { op: 'add', claim: ghClaim }, deps(s));
    const other = primaryFromSeed(seedFor('mallory'));
    const read = await readChainAt(s.fetch, `/v1/sigchains/ed25519/${primary.slice(8)}`, other);
    expect(read).toMatchObject({ kind: 'invalid', code: 'primary_mismatch', index: 0 });
  });

  it('reads the vectors’ chain; a tampered link is invalid at its index', async () => {
    const body = JSON.stringify({ primary: doc.primary, links: doc.chain.links });
    const ok = await readChainAt(async () => new Response(body), '/x', doc.primary);
    expect(ok.kind === 'ok' && ok.chain.activeClaims().map((c) => c.claim.name)).toEqual(doc.chain.active.map((a: { name: string }) => a.name));
    const bad = structuredClone(doc.chain.links);
    bad[2].payload.created_at = '2026-05-25T03:00:01Z';
    const read = await readChainAt(async () => new Response(JSON.stringify({ primary: doc.primary, links: bad })), '/x', doc.primary);
    expect(read).toMatchObject({ kind: 'invalid', code: 'invalid_signature', index: 2 });
  });

  it('refuses a body past the bound without reading it whole, and says none for 404, unreachable offline', async () => {
    let pulled = 0;
    const huge = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const read = await readChainAt(async () => new Response(huge), '/x', primary);
    expect(read).toMatchObject({ kind: 'invalid', code: 'too_large' });
    expect(pulled * 64 * 1024).toBeLessThan(MAX_CHAIN_BODY + 2 * 64 * 1024);
    expect(await readChainAt(async () => new Response('{"error":"not_found"}', { status: 404 }), '/x', primary)).toEqual({ kind: 'none' });
    const offline = await readChainAt(async () => Promise.reject(new TypeError('Failed to fetch')), '/x', primary);
    expect(offline).toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/Couldn’t reach/) });
    await expect(readBounded(new Response('x', { headers: { 'content-length': '999999999' } }), 10)).rejects.toMatchObject({ code: 'too_large' });
  });
});

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

describe('what to publish', () => {
  it('the statement shown is the one that verifies, for the claim', () => {
    const stmt = buildProof(seed, webClaim, '2026-05-25T03:00:00Z');
    const p = placement('https', 'alice.example', stmt);
    expect(p).toMatchObject({ service: 'https', url: 'https://alice.example/.well-known/kez-proof.txt' });
    expect(verifyProof(JSON.parse(p.content))).toMatchObject({ primary, service: 'https', name: 'alice.example' });
    expect(p.content).toBe(jcs(stmt));
  });

  it('splits a TXT record in ≤ 255-byte strings that join back, quoted for a zone file', () => {
    const text = jcs(buildProof(seed, { service: 'dns', name: 'alice.example', proof: 'dns:_kez.alice.example' }, '2026-05-25T03:00:00Z'));
    const parts = txtStrings(text);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((s) => new TextEncoder().encode(s).length <= 255)).toBe(true);
    expect(parts.join('')).toBe(text);
    const zone = txtZoneLine('alice.example', text);
    expect(zone.startsWith('_kez.alice.example. 300 IN TXT "{\\"kez\\":')).toBe(true);
    const unquoted = [...zone.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1')).join('');
    expect(unquoted).toBe(text);
    expect(txtStrings('é'.repeat(200)).map((s) => new TextEncoder().encode(s).length)).toEqual([254, 146]);
  });

  it('takes a pasted gist address and writes it under the claimed login', () => {
    const id = '0123456789abcdef0123456789abcdef';
    expect(gistProof('Alice-Kez', `https://gist.github.com/alice-kez/${id}`)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', `gist.github.com/${id.toUpperCase()}/`)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', id)).toEqual({ proof: `https://gist.github.com/Alice-Kez/${id}` });
    expect(gistProof('Alice-Kez', `https://gist.github.com/mallory/${id}`)).toMatchObject({ problem: expect.stringMatching(/names mallory/) });
    expect(gistProof('Alice-Kez', 'https://gist.github.com/alice-kez/123')).toHaveProperty('problem');
    expect(gistProof('Alice-Kez', 'https://evil.example/alice-kez/' + id)).toHaveProperty('problem');
  });

  it('checks names as typed, the way the server will', () => {
    expect(nameProblem('github', '@Octo-Cat')).toEqual({ name: 'Octo-Cat', problem: null });
    expect(nameProblem('github', 'octo--cat').problem).toMatch(/hyphen/);
    expect(nameProblem('https', ' Example.COM. ')).toEqual({ name: 'example.com', problem: null });
    expect(nameProblem('https', 'https://example.com/').problem).toMatch(/without https/);
    expect(nameProblem('dns', '10.0.0.1').problem).toMatch(/IP address/);
    expect(nameProblem('dns', 'localhost').problem).toMatch(/dot/);
    expect(nameProblem('dns', 'bücher.example').problem).toMatch(/punycode/);
  });
});

describe('locateChain', () => {
  it('a key with no handle here has no chain to read (no request); a failed lookup falls back to this server', async () => {
    expect(await locateChain(async () => Promise.reject(new ApiError(404, 'not_found', '')), primary, 'kez.test')).toBeNull();
    expect(await locateChain(async () => Promise.reject(new ApiError(0, 'network', '')), primary, 'kez.test')).toBe(`/v1/sigchains/ed25519/${primary.slice(8)}`);
    expect(await locateChain(async () => ({ sigchain_url: `https://kez.test/v1/sigchains/ed25519/${primary.slice(8)}` }), primary, 'kez.test')).toBe(`/v1/sigchains/ed25519/${primary.slice(8)}`);
  });

  it('the store asks nothing more for an unregistered key and says none', async () => {
    let asked = 0;
    const store = new LinkedAccounts(primary, { fetch: async () => (asked++, new Response('{}')), now: () => NOW, locate: async () => null });
    await store.load();
    expect(store.state).toBe('none');
    expect(asked).toBe(0);
  });
});

describe('chainUrl', () => {
  it('reads our own server’s chains from this origin, another service’s from its URL', () => {
    const p = doc.primary as string;
    const hex = p.slice(8);
    expect(chainUrl(p, `https://kez.test/v1/sigchains/ed25519/${hex}`, 'kez.test')).toBe(`/v1/sigchains/ed25519/${hex}`);
    expect(chainUrl(p, undefined, 'kez.test')).toBe(`/v1/sigchains/ed25519/${hex}`);
    expect(chainUrl(p, `https://sig.example/c/${hex}`, 'kez.test')).toBe(`https://sig.example/c/${hex}`);
    expect(chainUrl(p, 'javascript:alert(1)', 'kez.test')).toBe(`/v1/sigchains/ed25519/${hex}`);
  });
});

it('the vectors’ seed signs what the vectors hold (the test server’s rules are the real ones)', () => {
  const s = hexSeed(doc.seed);
  expect(primaryFromSeed(s)).toBe(doc.primary);
  expect(linkHash(doc.chain.links[0])).toBe(doc.chain.hashes[0]);
  expect(readChain(doc.primary, JSON.stringify({ primary: doc.primary, links: doc.chain.links })).head).toBe(doc.chain.hashes.at(-1));
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

it('a long chain is verified in slices, giving the page a turn between them (review NICE 3)', async () => {
  const links: unknown[] = [];
  let head: string | null = null;
  for (let seq = 1; seq <= 2 * VERIFY_SLICE + 1; seq++) {
    // Adds and revokes in turn (at most 32 claims are active at once).
    const name = `n${seq}.example`;
    const body = seq % 2 ? { op: 'add' as const, claim: { service: 'dns' as const, name, proof: `dns:_kez.${name}` } } : { op: 'revoke' as const, link: head as string };
    const link = signLink(seed, { ...basePayload(seq, head), body });
    head = linkHash(link);
    links.push(link);
  }
  const text = JSON.stringify({ primary, links });
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  const chain = await readChainYielding(primary, text);
  clearInterval(tick);
  expect(chain.length).toBe(readChain(primary, text).length);
  expect(turns).toBeGreaterThanOrEqual(1);
  const bad = JSON.stringify({ primary, links: [...links.slice(0, 20), { ...(links[20] as object), signature: { alg: 'ed25519-sha512-jcs', key: primary, sig: '00'.repeat(64) } }] });
  await expect(readChainYielding(primary, bad)).rejects.toMatchObject({ index: 20, code: 'invalid_signature' });
});
