// The linked-accounts tests' shared fixture: a home server stand-in for one key that applies SPEC
// §15.3's rules (409 on a stale head, the chain rules on append) and answers its proofs; the key,
// its signer and two claims. Used by tests/claims-*.test.ts.
import { type Fetch } from '../src/lib/claims';
import { primaryFromSeed } from '../src/lib/identity';
import { Chain, signLink, verifyLink, type LinkPayload } from '../src/lib/sigchain';
import { loadJson, seedFor, vectorPath } from './helpers';

export const doc = loadJson(vectorPath('sigchain.json'));
export const NOW = new Date('2026-05-25T03:00:00Z');

/** A home server for one key: GET/POST of its chain (rules checked as the server does), its proofs answer. */
export class ChainServer {
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

export const seed = seedFor('claims');
export const primary = primaryFromSeed(seed);
export const sign = async (p: LinkPayload) => signLink(seed, p);
export const deps = (s: ChainServer) => ({ fetch: s.fetch, now: () => NOW, sign });
export const ghClaim = { service: 'github' as const, name: 'Alice-Kez', proof: 'https://gist.github.com/Alice-Kez/0123456789abcdef0123' };
export const webClaim = { service: 'https' as const, name: 'alice.example', proof: 'https://alice.example/.well-known/kez-proof.txt' };

export function basePayload(seq: number, prev: string | null): Omit<LinkPayload, 'body'> {
  return { type: 'kez.sigchain.link', version: 1, primary, seq, prev, created_at: '2026-05-25T03:00:00Z' };
}
