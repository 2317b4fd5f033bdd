// Reading a chain (lib/claims.ts): bounded, strictly parsed and verified on this device against the
// trusted key, in slices; where it is read from (locateChain, chainUrl).
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_BODY, chainUrl, locateChain, readBounded, readChainAt } from '../src/lib/claims';
import { appendLink } from '../src/lib/claims-append';
import { LinkedAccounts } from '../src/lib/claims.svelte';
import { ApiError } from '../src/lib/api';
import { primaryFromSeed } from '../src/lib/identity';
import { VERIFY_SLICE, linkHash, readChain, readChainYielding, signLink } from '../src/lib/sigchain';
import { hexSeed, seedFor } from './helpers';
import { ChainServer, NOW, basePayload, deps, doc, ghClaim, primary, seed } from './claims-fixture';

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
