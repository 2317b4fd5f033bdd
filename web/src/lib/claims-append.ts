// Appending a signed link to one's own chain (SPEC §15.3): read and verify the chain, check the
// link here, sign, POST, one retry after a 409; refusals in words. Split from lib/claims.ts.
import { friendly } from './api';
import { jcs } from './jcs';
import { rfc3339 } from './time';
import { ClaimsError, TIMEOUT_MS, chainPath, fetchFailure, readChainAt, retryAfter, waitWords, type Fetch } from './claims';
import { SigchainError, linkHash, nextLinkPayload, type Chain, type LinkBody, type LinkPayload, type SignedLink } from './sigchain';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A link's `created_at`: now, or the previous link's time when the clock runs behind it (SPEC §15.1). */
export function linkTime(now: Date, prev: number | null): string {
  return rfc3339(new Date(Math.max(now.getTime(), prev ?? 0)));
}

/** A refused append or local rule in words. */
export function appendErrorText(code: string, status = 0): string {
  const m: Record<string, string> = {
    chain_conflict: 'Your linked accounts changed elsewhere at the same moment. Reload this page and try again.',
    chain_full: 'Your chain is full: it already holds 256 changes, so nothing more can be added.',
    too_many_claims: 'You can have at most 32 linked accounts. Remove one first.',
    duplicate_claim: 'That account is already linked.',
    already_revoked: 'That account was already removed.',
    revoke_unknown: 'That link isn’t in your chain any more. Reload this page.',
    created_at_regression: 'Your device clock is behind your last change. Set the correct time and try again.',
    stale_timestamp: 'Your device clock is more than 5 minutes off. Set the correct time and try again.',
    invalid_claim_name: 'That name isn’t valid for this service.',
    invalid_proof: 'That proof address isn’t valid for this account.',
    link_too_large: 'That change is too large to add.',
    payload_too_large: 'That change is too large to add.',
    not_found: 'Your handle isn’t registered on this server, so it keeps no linked accounts for you.',
    rate_limited: 'Too many changes in a short time. Wait a minute and try again.',
    broken_chain: 'Your chain on the server doesn’t verify, so no change can be added to it.',
  };
  return m[code] ?? friendly(code, status);
}

export interface AppendDeps {
  fetch: Fetch;
  /** The server-corrected clock. */
  now: () => Date;
  /** Signs the payload with the unlocked identity. */
  sign: (payload: LinkPayload) => Promise<SignedLink>;
}

/**
 * Appends `body` to `primary`'s chain on this server: read and verify the chain, check the link
 * against it here (a refusal the server would give, in words, before anything is sent), sign,
 * POST. A `409 chain_conflict` (another device or tab appended first) reads the chain again and
 * signs once more; a second conflict is an error. Throws {@link ClaimsError}. Gives the chain as it
 * now stands (the one verified here, plus the link the server stored) so the caller need not read
 * and verify it again; `null` if the server named another hash than the link's.
 */
export async function appendLink(primary: string, body: LinkBody, deps: AppendDeps): Promise<{ seq: number; hash: string; chain: Chain | null }> {
  for (let attempt = 0; ; attempt++) {
    const read = await readChainAt(deps.fetch, chainPath(primary), primary);
    if (read.kind === 'unreachable') throw new ClaimsError('network', read.message);
    if (read.kind === 'none') throw new ClaimsError('not_found', appendErrorText('not_found'));
    if (read.kind === 'invalid') throw new ClaimsError('broken_chain', appendErrorText('broken_chain'));
    const chain = read.chain;
    const payload = nextLinkPayload(chain, body, linkTime(deps.now(), chain.headCreatedAt));
    try {
      chain.checkNext({ payload, hash: '' });
    } catch (e) {
      if (e instanceof SigchainError) throw new ClaimsError(e.code, appendErrorText(e.code));
      throw e;
    }
    const link = await deps.sign(payload);
    let res: Response;
    try {
      res = await deps.fetch(chainPath(primary), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: jcs(link),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      throw fetchFailure(e);
    }
    const text = await res.text().catch(() => '');
    let answer: Record<string, unknown> = {};
    try {
      const v: unknown = JSON.parse(text);
      if (isObj(v)) answer = v;
    } catch {
      /* an error page */
    }
    if (res.ok && typeof answer.seq === 'number' && typeof answer.hash === 'string') {
      const stored = answer.hash === linkHash(link);
      if (stored) chain.push({ payload, hash: answer.hash });
      return { seq: answer.seq, hash: answer.hash, chain: stored ? chain : null };
    }
    const code = typeof answer.error === 'string' ? answer.error : res.ok ? 'invalid_response' : res.status >= 500 ? 'internal' : `http_${res.status}`;
    if (code === 'chain_conflict' && attempt === 0) continue;
    const ra = retryAfter(res);
    const msg = code === 'rate_limited' && ra ? `Too many changes in a short time. Try again in ${waitWords(ra)}.` : appendErrorText(code, res.status);
    throw new ClaimsError(code, msg, ra);
  }
}

