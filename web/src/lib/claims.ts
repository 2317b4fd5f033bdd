// Linked accounts (sigchain claims, SPEC §15) as the UI uses them: where a
// chain is read, reading it bounded and verified on this device, the home
// server's proof verdicts (§15.5) matched to the verified claims. What to
// publish where (§15.4) is lib/claims-publish.ts (re-exported here), appending
// a signed link (§15.3) lib/claims-append.ts. The sigchain rules themselves
// are lib/sigchain.ts.
import { ApiError } from './api';
import { ChainError, MAX_LINK_BYTES, MAX_LINKS, SigchainError, readChainYielding, type Chain, type Claim, type Service } from './sigchain';

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export * from './claims-publish';

/** A chain body: 256 links of at most 4096 bytes each, plus the wrapper and separators (SPEC §15.4). */
export const MAX_CHAIN_BODY = MAX_LINKS * (MAX_LINK_BYTES + 1) + 1024;
/** A proofs answer: 32 active claims of a few hundred bytes each, with room to spare. */
export const MAX_PROOFS_BODY = 64 * 1024;
/** Verdicts kept from one answer (a hostile server may list more than 32). */
const MAX_VERDICTS = 64;
/** How long one request of this module may take. */
export const TIMEOUT_MS = 15_000;

export const SERVICES: { id: Service; label: string; nameLabel: string; placeholder: string }[] = [
  { id: 'github', label: 'GitHub', nameLabel: 'GitHub username', placeholder: 'octocat' },
  { id: 'https', label: 'Website', nameLabel: 'Website host', placeholder: 'example.com' },
  { id: 'dns', label: 'Domain (DNS)', nameLabel: 'Domain name', placeholder: 'example.com' },
];

export const serviceLabel = (s: string): string => SERVICES.find((x) => x.id === s)?.label ?? s;

/** `ed25519:<hex>` → `<hex>` (the path segment of the chain's URL). */
export function keyHex(primary: string): string {
  return primary.startsWith('ed25519:') ? primary.slice('ed25519:'.length) : primary;
}

/** The chain's path on a home server (same origin as this page for our own server). */
export function chainPath(primary: string): string {
  return `/v1/sigchains/ed25519/${encodeURIComponent(keyHex(primary))}`;
}

/**
 * Where to read `primary`'s chain: its lookup record's `sigchain_url`, except that a URL naming
 * `server` (this page's home server, which hands out `https://<server>/…` whatever it is reached
 * through) is read from this origin's own path. A key whose record has none reads from here.
 */
export function chainUrl(primary: string, sigchainUrl: string | undefined, server: string): string {
  if (!sigchainUrl) return chainPath(primary);
  try {
    const u = new URL(sigchainUrl);
    if (u.hostname.toLowerCase() === server.toLowerCase()) return chainPath(primary);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return chainPath(primary);
    return u.toString();
  } catch {
    return chainPath(primary);
  }
}

/**
 * Where `primary`'s chain is read, from its lookup record (SPEC §5 `sigchain_url`, see {@link chainUrl}):
 * null when the directory has no handle for that key (404), this server's path when the lookup fails otherwise.
 */
export async function locateChain(lookup: (primary: string) => Promise<{ sigchain_url?: string }>, primary: string, server: string): Promise<string | null> {
  try {
    return chainUrl(primary, (await lookup(primary)).sigchain_url, server);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    return chainPath(primary);
  }
}

/** Why a read failed, as a word the UI turns into a sentence. */
export class ClaimsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ClaimsError';
  }
}

/** The body as text, refusing more than `max` bytes (the length header, then while reading). */
export async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) throw new ClaimsError('too_large', 'The answer was too large to read.');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  if (!res.body) return decodeOrThrow(decoder, new Uint8Array(await res.arrayBuffer()), max);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new ClaimsError('too_large', 'The answer was too large to read.');
    }
    parts.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return decodeOrThrow(decoder, all, max);
}

function decodeOrThrow(decoder: TextDecoder, bytes: Uint8Array, max: number): string {
  if (bytes.byteLength > max) throw new ClaimsError('too_large', 'The answer was too large to read.');
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ClaimsError('invalid_json', 'The answer wasn’t readable text.');
  }
}

/** Seconds of a `Retry-After` header (delta form), or undefined. */
export function retryAfter(res: Response): number | undefined {
  const ra = Number(res.headers.get('Retry-After'));
  return Number.isFinite(ra) && ra > 0 ? Math.min(Math.ceil(ra), 3600) : undefined;
}

/** A wait in words: "30 seconds", "2 minutes". */
export function waitWords(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const m = Math.ceil(seconds / 60);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

/** A refused GET in words: 429 with its wait, 5xx, else the status. */
function httpProblem(res: Response, what: string): { message: string; retryAfter?: number } {
  if (res.status === 429) {
    const ra = retryAfter(res);
    return { message: `The server is busy. Try again in ${ra ? waitWords(ra) : 'a minute'}.`, retryAfter: ra ?? 60 };
  }
  if (res.status >= 500) return { message: `The server had a problem ${what}. Try again in a moment.` };
  return { message: `The server refused ${what} (error ${res.status}).` };
}

/** A thrown fetch in words: a timeout is named as such, anything else is the connection. */
export function fetchFailure(e: unknown): ClaimsError {
  if (e instanceof DOMException && e.name === 'TimeoutError')
    return new ClaimsError('timeout', `The server didn’t answer within ${TIMEOUT_MS / 1000} seconds. Try again in a moment.`);
  return new ClaimsError('network', 'Couldn’t reach the server. Check your connection and try again.');
}

/**
 * A GET of JSON, never from a cache. `fresh` asks the server to check again (`Cache-Control:
 * no-cache`, SPEC §15.5); otherwise the request carries no such header (a `no-store` fetch would
 * add it, so plain reads use `no-cache`: the answers are `no-store` anyway).
 */
async function get(fetchFn: Fetch, url: string, fresh = false): Promise<Response> {
  try {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (fresh) headers['Cache-Control'] = 'no-cache';
    return await fetchFn(url, { headers, cache: fresh ? 'no-store' : 'no-cache', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    throw fetchFailure(e);
  }
}

/** What reading a chain gave. `none`: the server keeps no chain for that key (404, or 400 for a legacy key). */
export type ChainRead =
  | { kind: 'ok'; chain: Chain }
  | { kind: 'none' }
  | { kind: 'invalid'; code: string; index: number | null }
  | { kind: 'unreachable'; message: string; retryAfter?: number };

/**
 * Reads and verifies `primary`'s chain at `url` on this device: bounded, strictly parsed, every
 * signature and rule checked against the trusted `primary` (never the answer's own).
 */
export async function readChainAt(fetchFn: Fetch, url: string, primary: string): Promise<ChainRead> {
  let text: string;
  try {
    const res = await get(fetchFn, url);
    if (res.status === 404 || res.status === 400) return { kind: 'none' };
    if (!res.ok) return { kind: 'unreachable', ...httpProblem(res, 'the linked accounts') };
    text = await readBounded(res, MAX_CHAIN_BODY);
  } catch (e) {
    if (e instanceof ClaimsError && e.code !== 'network' && e.code !== 'timeout') return { kind: 'invalid', code: e.code, index: null };
    return { kind: 'unreachable', message: e instanceof Error ? e.message : String(e) };
  }
  try {
    return { kind: 'ok', chain: await readChainYielding(primary, text) };
  } catch (e) {
    if (e instanceof ChainError) return { kind: 'invalid', code: e.code, index: e.index };
    if (e instanceof SigchainError) return { kind: 'invalid', code: e.code, index: null };
    return { kind: 'invalid', code: 'invalid_json', index: null };
  }
}

/** Why a chain failed verification, in words. */
export function chainInvalidText(code: string, index: number | null): string {
  const at = index === null ? '' : ` (change ${index + 1})`;
  const why: Record<string, string> = {
    invalid_signature: 'a signature doesn’t check',
    primary_mismatch: 'it contains a change signed by another key',
    key_mismatch: 'it contains a change signed by another key',
    prev_mismatch: 'its changes aren’t linked in order',
    seq_mismatch: 'its changes aren’t numbered in order',
    created_at_regression: 'its changes go back in time',
    too_large: 'it is larger than any valid list',
    invalid_json: 'it isn’t valid JSON',
    unsafe_number: 'it isn’t valid JSON',
    invalid_body: 'it isn’t shaped like a list of linked accounts',
  };
  return `This list of linked accounts failed verification on this device (every change in it must be signed with this key): ${why[code] ?? 'it breaks the rules for such lists'}${at}. None of its claims can be trusted.`;
}

export type Status = 'verified' | 'failed' | 'unreachable';

/** One entry of `GET …/proofs` (SPEC §15.5). */
export interface Verdict {
  link: string;
  service: string;
  name: string;
  status: Status;
  reason: string;
  detail?: string;
  checked_at: string;
  /** Not verified: from when a re-check (`Cache-Control: no-cache`) checks it again. */
  recheck_at?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const STATUSES: Status[] = ['verified', 'failed', 'unreachable'];

/** The verdicts of a proofs answer for `primary`; entries of the wrong shape are dropped, a wrong `primary` drops all. */
export function parseVerdicts(text: string, primary: string): Verdict[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isObj(doc) || doc.primary !== primary || !Array.isArray(doc.proofs)) return [];
  const out: Verdict[] = [];
  for (const p of doc.proofs.slice(0, MAX_VERDICTS)) {
    if (!isObj(p)) continue;
    const { link, service, name, status, reason, detail, checked_at, recheck_at } = p;
    if (typeof link !== 'string' || typeof service !== 'string' || typeof name !== 'string' || typeof reason !== 'string') continue;
    if (typeof checked_at !== 'string' || !STATUSES.includes(status as Status)) continue;
    if (reason.length > 64 || checked_at.length > 64 || (detail !== undefined && typeof detail !== 'string')) continue;
    const recheck = typeof recheck_at === 'string' && recheck_at.length <= 64 ? { recheck_at } : {};
    out.push({ link, service, name, status: status as Status, reason, checked_at, ...recheck, ...(typeof detail === 'string' ? { detail: detail.slice(0, 64) } : {}) });
  }
  return out;
}

export type VerdictsRead = { kind: 'ok'; verdicts: Verdict[] } | { kind: 'unavailable'; message: string; retryAfter?: number };

/** `GET <chain path>/proofs` on the home server (this origin); `fresh` asks it to check again what isn't verified. */
export async function readVerdicts(fetchFn: Fetch, primary: string, fresh = false): Promise<VerdictsRead> {
  try {
    const res = await get(fetchFn, `${chainPath(primary)}/proofs`, fresh);
    if (res.status === 404) return { kind: 'unavailable', message: 'This server doesn’t check proofs for that key.' };
    if (!res.ok) return { kind: 'unavailable', ...httpProblem(res, 'checking the proofs') };
    return { kind: 'ok', verdicts: parseVerdicts(await readBounded(res, MAX_PROOFS_BODY), primary) };
  } catch (e) {
    return { kind: 'unavailable', message: e instanceof Error ? e.message : String(e) };
  }
}

/** An active claim of a verified chain, with the server's verdict on it when the verdict names that very link and claim. */
export interface ClaimRow {
  link: string;
  claim: Claim;
  verdict: Verdict | null;
}

export function claimRows(chain: Chain, verdicts: Verdict[]): ClaimRow[] {
  return chain.activeClaims().map(({ link, claim }) => ({
    link,
    claim,
    verdict: verdicts.find((v) => v.link === link && v.service === claim.service && v.name.toLowerCase() === claim.name.toLowerCase()) ?? null,
  }));
}

/** A verdict's reason in words. */
export function reasonText(v: Pick<Verdict, 'reason' | 'detail' | 'service'>): string {
  const where = v.service === 'github' ? 'the gist' : v.service === 'dns' ? 'the TXT record' : 'the proof file';
  const fixed: Record<string, string> = {
    ok: 'The published proof matches this key.',
    not_found: `Nothing was found at ${where}.`,
    too_large: `What’s published at ${where} is too large to be a proof.`,
    bad_statement: `What’s published at ${where} isn’t a valid proof statement${v.detail === 'invalid_signature' ? ' (its signature doesn’t check)' : v.detail === 'invalid_json' ? ' (it isn’t valid JSON)' : ''}.`,
    wrong_key: `The proof at ${where} was signed by a different key.`,
    wrong_claim: `The proof at ${where} is for a different account.`,
    wrong_owner: 'That gist belongs to another GitHub user.',
    bad_answer: v.service === 'dns' ? 'The DNS answer couldn’t be read.' : 'GitHub’s answer couldn’t be read.',
    private_address: 'The site points to a private network address, which isn’t checked.',
    timeout: 'No answer within 5 seconds.',
    connect_error: 'Couldn’t connect (the name doesn’t resolve, or the connection or TLS failed).',
    dns_error: 'The DNS lookup failed.',
    busy: 'The server was busy checking other proofs. Try again shortly.',
  };
  if (fixed[v.reason]) return fixed[v.reason];
  const http = /^http_(\d{3})$/.exec(v.reason);
  if (http) return Number(http[1]) >= 300 && Number(http[1]) < 400 ? 'The site redirected elsewhere; proofs must be served at the exact address.' : `The site answered with an error (HTTP ${http[1]}).`;
  return 'The proof couldn’t be checked.';
}

export const statusText = (s: Status): string => (s === 'verified' ? 'Verified' : s === 'failed' ? 'Failed' : 'Unreachable');

/**
 * When the server looks at a proof that isn't verified again, for people: null when it would now
 * (or the verdict says nothing), else "after 10:42:05".
 */
export function recheckWhen(v: Pick<Verdict, 'status' | 'recheck_at'>, now = new Date()): string | null {
  if (v.status === 'verified' || !v.recheck_at) return null;
  const t = Date.parse(v.recheck_at);
  if (!Number.isFinite(t) || t <= now.getTime()) return null;
  return `after ${new Date(t).toLocaleTimeString()}`;
}

/** `checked_at` for people; the raw string when it doesn't parse. */
export function checkedWhen(iso: string, now = new Date()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const mins = Math.round((now.getTime() - t) / 60_000);
  if (mins < 1) return 'just now';
  if (mins < 60) return `${mins} min ago`;
  return new Date(t).toLocaleString();
}

/** An `ApiError`-like sentence for anything thrown at the UI. */
export function errorText(e: unknown): string {
  if (e instanceof ClaimsError || e instanceof ApiError) return e.message;
  if (e instanceof Error && e.message) return e.message;
  return 'Something went wrong. Try again.';
}
