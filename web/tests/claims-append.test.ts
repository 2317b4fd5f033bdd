// Appending to one's own chain (lib/claims-append.ts) against the stand-in server of
// claims-fixture.ts: each link signed on the verified head, one retry after a 409, refusals in words.
import { describe, expect, it } from 'vitest';
import { appendLink, linkTime } from '../src/lib/claims-append';
import { signLink } from '../src/lib/sigchain';
import { ChainServer, basePayload, deps, ghClaim, primary, seed, webClaim } from './claims-fixture';

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
