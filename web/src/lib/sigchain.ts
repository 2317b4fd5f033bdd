// Sigchains (SPEC §15): a key's append-only list of signed links that add
// and revoke claims (a GitHub login, a web host, a DNS name), and the proof
// statements published at each claimed place. The same checks in the same
// order as kez-core's `sigchain` module, pinned by tests/vectors/sigchain.json.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from './bytes';
import { isStrictUtcSeconds, MAX_SKEW_MS } from './envelope';
import { parsePrimary, primaryFromSeed, signJcs, verifyJcs } from './identity';
import { jcs, jcsBytes } from './jcs';
import { parseStrictJson, StrictJsonError } from './strictjson';

export const LINK_TAG = 'sigchain_link';
export const LINK_TYPE = 'kez.sigchain.link';
export const PROOF_TAG = 'sigchain_proof';
export const PROOF_TYPE = 'kez.sigchain.proof';
/** Most links in one chain. */
export const MAX_LINKS = 256;
/** Largest link: UTF-8 bytes of its envelope's JCS. */
export const MAX_LINK_BYTES = 4096;
/** Most claims added and not revoked at once. */
export const MAX_ACTIVE_CLAIMS = 32;

const ALG = 'ed25519-sha512-jcs';
const HASH_RE = /^[0-9a-f]{64}$/;

export type Service = 'github' | 'https' | 'dns';
export interface Claim {
  service: Service;
  /** A GitHub login or a lowercase ASCII host. */
  name: string;
  /** `https://gist.github.com/<name>/<hex>`, `https://<name>/.well-known/kez-proof.txt` or `dns:_kez.<name>`. */
  proof: string;
}
export type LinkBody = { op: 'add'; claim: Claim } | { op: 'revoke'; link: string };
export interface LinkPayload {
  type: typeof LINK_TYPE;
  version: 1;
  primary: string;
  seq: number;
  prev: string | null;
  /** `YYYY-MM-DDTHH:MM:SSZ`. */
  created_at: string;
  body: LinkBody;
}
export interface Signature {
  alg: string;
  key: string;
  sig: string;
}
export interface SignedLink {
  kez: typeof LINK_TAG;
  payload: LinkPayload;
  signature: Signature;
}
export interface ProofPayload {
  type: typeof PROOF_TYPE;
  version: 1;
  primary: string;
  service: Service;
  name: string;
  created_at: string;
}
export interface SignedProof {
  kez: typeof PROOF_TAG;
  payload: ProofPayload;
  signature: Signature;
}
/** A link that passed {@link verifyLink}, with its hash. */
export interface Link {
  payload: LinkPayload;
  hash: string;
}

/** A refusal, with its SPEC §15 code (`invalid_body`, `chain_full`, …). */
export class SigchainError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** Where {@link verifyChain} stopped: the 0-based index of the first bad link. */
export class ChainError extends SigchainError {
  constructor(
    readonly index: number,
    code: string,
  ) {
    super(code);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const exactKeys = (o: Record<string, unknown>, keys: string[]) =>
  Object.keys(o).length === keys.length && keys.every((k) => Object.hasOwn(o, k));
const str = (v: unknown): v is string => typeof v === 'string';
const uint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function hasUnsafeNumber(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isSafeInteger(v);
  if (Array.isArray(v)) return v.some(hasUnsafeNumber);
  if (isObj(v)) return Object.values(v).some(hasUnsafeNumber);
  return false;
}

/** A GitHub login: 1-39 of `A-Za-z0-9-`, no leading, trailing or double hyphen. */
export function isGithubLogin(name: string): boolean {
  return /^[A-Za-z0-9-]{1,39}$/.test(name) && !name.startsWith('-') && !name.endsWith('-') && !name.includes('--');
}

/**
 * A claim's host: lowercase ASCII (IDNs in punycode), RFC 1123 labels of
 * 1-63 `a-z0-9-` not starting or ending with `-`, two labels or more, ≤ 253
 * characters, the last label starting with a letter `a-z` (so no IPv4
 * literal in any WHATWG form: `10.0.0.1`, `127.0x1`). SPEC §15.1.
 */
export function isHost(name: string): boolean {
  const labels = name.split('.');
  return (
    name.length <= 253 &&
    labels.length >= 2 &&
    labels.every((l) => /^[a-z0-9-]{1,63}$/.test(l) && !l.startsWith('-') && !l.endsWith('-')) &&
    /^[a-z]/.test(labels[labels.length - 1])
  );
}

function validName(service: Service, name: string): boolean {
  return service === 'github' ? isGithubLogin(name) : isHost(name);
}

function validProof(service: Service, name: string, proof: string): boolean {
  if (service === 'github') {
    const prefix = `https://gist.github.com/${name}/`;
    return proof.startsWith(prefix) && /^[0-9a-f]{20,32}$/.test(proof.slice(prefix.length));
  }
  if (service === 'https') return proof === `https://${name}/.well-known/kez-proof.txt`;
  return proof === `dns:_kez.${name}`;
}

const isService = (s: string): s is Service => s === 'github' || s === 'https' || s === 'dns';

/** Checks a claim: `unknown_service`, `invalid_claim_name`, `invalid_proof` (throws the first). */
export function checkClaim(service: string, name: string, proof: string): Claim {
  if (!isService(service)) throw new SigchainError('unknown_service');
  if (!validName(service, name)) throw new SigchainError('invalid_claim_name');
  if (!validProof(service, name, proof)) throw new SigchainError('invalid_proof');
  return { service, name, proof };
}

/** Lowercase hex SHA-256 of the JCS of the whole envelope, signature included. */
export function linkHash(envelope: unknown): string {
  return bytesToHex(sha256(jcsBytes(envelope)));
}

function bodyShapeOk(b: unknown): boolean {
  if (!isObj(b)) return false;
  if (b.op === 'add') {
    const c = b.claim;
    return exactKeys(b, ['op', 'claim']) && isObj(c) && exactKeys(c, ['service', 'name', 'proof']) && [c.service, c.name, c.proof].every(str);
  }
  return b.op === 'revoke' && exactKeys(b, ['op', 'link']) && str(b.link);
}

const LINK_KEYS = ['type', 'version', 'primary', 'seq', 'prev', 'created_at', 'body'];

function envelopeShapeOk(e: unknown, payloadOk: (p: Record<string, unknown>) => boolean): boolean {
  if (!isObj(e) || !exactKeys(e, ['kez', 'payload', 'signature']) || !str(e.kez)) return false;
  const { payload: p, signature: s } = e;
  return isObj(s) && exactKeys(s, ['alg', 'key', 'sig']) && [s.alg, s.key, s.sig].every(str) && isObj(p) && payloadOk(p);
}

/** SPEC §2 envelope checks: tag, type, version, key_mismatch, alg, invalid_key, invalid_signature. */
function checkEnvelope(e: { kez: string; payload: { type: string; version: number; primary: string }; signature: Signature }, tag: string, type: string): void {
  const p = e.payload;
  if (e.kez !== tag) throw new SigchainError('wrong_envelope_tag');
  if (p.type !== type) throw new SigchainError('wrong_payload_type');
  if (p.version !== 1) throw new SigchainError('unsupported_version');
  if (e.signature.key !== p.primary) throw new SigchainError('key_mismatch');
  if (e.signature.alg !== ALG) throw new SigchainError('unsupported_alg');
  try {
    parsePrimary(p.primary);
  } catch {
    throw new SigchainError('invalid_key');
  }
  if (!verifyJcs(e.signature.sig, p, p.primary)) throw new SigchainError('invalid_signature');
}

/**
 * Checks one link on its own, in SPEC §15 order (safe numbers, size, shape,
 * envelope and signature, seq, prev, created_at and, given `now`, the ±5 min
 * window, then the body). Throws a {@link SigchainError}.
 */
export function verifyLink(envelope: unknown, now?: Date): Link {
  if (hasUnsafeNumber(envelope)) throw new SigchainError('unsafe_number');
  if (new TextEncoder().encode(jcs(envelope)).length > MAX_LINK_BYTES) throw new SigchainError('link_too_large');
  const shapeOk = envelopeShapeOk(envelope, (p) =>
    exactKeys(p, LINK_KEYS) && [p.type, p.primary, p.created_at].every(str) && uint(p.version) && uint(p.seq) && (p.prev === null || str(p.prev)) && bodyShapeOk(p.body),
  );
  if (!shapeOk) throw new SigchainError('invalid_body');
  const e = envelope as SignedLink;
  checkEnvelope(e, LINK_TAG, LINK_TYPE);
  const p = e.payload;
  if (p.seq === 0) throw new SigchainError('invalid_seq');
  if (!(p.seq === 1 ? p.prev === null : p.prev !== null && HASH_RE.test(p.prev))) throw new SigchainError('invalid_prev');
  if (!isStrictUtcSeconds(p.created_at)) throw new SigchainError('invalid_timestamp');
  if (now && Math.abs(Date.parse(p.created_at) - now.getTime()) > MAX_SKEW_MS) throw new SigchainError('stale_timestamp');
  if (p.body.op === 'add') checkClaim(p.body.claim.service, p.body.claim.name, p.body.claim.proof);
  else if (!HASH_RE.test(p.body.link)) throw new SigchainError('invalid_link_ref');
  return { payload: p, hash: linkHash(envelope) };
}

interface Entry {
  hash: string;
  createdAt: number;
  claim: Claim | null;
  revoked: boolean;
}

/** A chain's state: enough of each accepted link to check the next one. */
export class Chain {
  #entries: Entry[] = [];

  constructor(readonly primary: string) {}

  get length(): number {
    return this.#entries.length;
  }

  /** The last link's hash, `null` when empty (the next link's `prev`). */
  get head(): string | null {
    return this.#entries.at(-1)?.hash ?? null;
  }

  /** The last link's `created_at` in epoch ms, `null` when empty (the next link's earliest time). */
  get headCreatedAt(): number | null {
    return this.#entries.at(-1)?.createdAt ?? null;
  }

  /** Claims added and not revoked, in the order added, with their add link's hash. */
  activeClaims(): { link: string; claim: Claim }[] {
    return this.#entries.filter((e) => e.claim && !e.revoked).map((e) => ({ link: e.hash, claim: e.claim as Claim }));
  }

  /** Throws the first chain rule `link` breaks (SPEC §15 order), else returns. */
  checkNext(link: Link): void {
    const p = link.payload;
    const last = this.#entries.at(-1);
    if (p.primary !== this.primary) throw new SigchainError('primary_mismatch');
    if (p.seq !== this.length + 1) throw new SigchainError('seq_mismatch');
    if (p.prev !== this.head) throw new SigchainError('prev_mismatch');
    if (this.length >= MAX_LINKS) throw new SigchainError('chain_full');
    if (last && Date.parse(p.created_at) < last.createdAt) throw new SigchainError('created_at_regression');
    const body = p.body;
    if (body.op === 'add') {
      const active = this.activeClaims();
      // GitHub logins are case-insensitive; names are ASCII, so toLowerCase is ASCII folding (SPEC §15.2).
      const name = body.claim.name.toLowerCase();
      if (active.some((a) => a.claim.service === body.claim.service && a.claim.name.toLowerCase() === name)) throw new SigchainError('duplicate_claim');
      if (active.length >= MAX_ACTIVE_CLAIMS) throw new SigchainError('too_many_claims');
    } else {
      const add = this.#entries.find((e) => e.claim && e.hash === body.link);
      if (!add) throw new SigchainError('revoke_unknown');
      if (add.revoked) throw new SigchainError('already_revoked');
    }
  }

  /** {@link checkNext}, then appends. */
  push(link: Link): void {
    this.checkNext(link);
    const body = link.payload.body;
    if (body.op === 'revoke') {
      const add = this.#entries.find((e) => e.hash === body.link);
      if (add) add.revoked = true;
    }
    const claim = body.op === 'add' ? body.claim : null;
    this.#entries.push({ hash: link.hash, createdAt: Date.parse(link.payload.created_at), claim, revoked: false });
  }
}

/**
 * Checks a fetched chain of `primary` link by link (no clock window); throws a {@link ChainError}.
 * `primary` must be the *trusted* key (from the handle lookup or the contact), never the
 * response's own `primary`: else any key's chain served under another key's URL passes
 * (SPEC §15.2). Links must come from a strict parse: {@link readChain} does both.
 */
export function verifyChain(primary: string, links: unknown[]): Chain {
  const chain = new Chain(primary);
  links.forEach((envelope, index) => {
    try {
      chain.push(verifyLink(envelope));
    } catch (e) {
      if (e instanceof SigchainError) throw new ChainError(index, e.code);
      throw e;
    }
  });
  return chain;
}

/**
 * Reads a `GET /v1/sigchains/ed25519/{hex}` body (SPEC §15.3, the text as received) for the
 * trusted `primary`: a strict parse (no duplicate keys, no `1.0`/`1e0`: Rust refuses what
 * `JSON.parse` would fold; throws {@link SigchainError} `invalid_json` or `unsafe_number`),
 * `{"primary", "links": [...]}` with at most {@link MAX_LINKS} + 1 links kept for the check
 * (`invalid_body` otherwise), then {@link verifyChain}.
 */
export function readChain(primary: string, text: string): Chain {
  return verifyChain(primary, chainLinks(text));
}

/** The links of a chain body, strictly parsed, at most {@link MAX_LINKS} + 1 (see {@link readChain}). */
function chainLinks(text: string): unknown[] {
  let doc: unknown;
  try {
    doc = parseStrictJson(text);
  } catch (e) {
    if (e instanceof StrictJsonError) throw new SigchainError(e.code);
    throw e;
  }
  if (!isObj(doc) || !exactKeys(doc, ['primary', 'links']) || !Array.isArray(doc.links)) throw new SigchainError('invalid_body');
  return doc.links.slice(0, MAX_LINKS + 1);
}

/** Links verified between two yields of {@link readChainYielding} (a few ms each on a phone). */
export const VERIFY_SLICE = 16;

/**
 * {@link readChain} for the UI: the same checks, giving the page a turn (a macrotask) after every
 * {@link VERIFY_SLICE} links, so a full 256-link chain does not freeze it for seconds.
 */
export async function readChainYielding(primary: string, text: string): Promise<Chain> {
  const links = chainLinks(text);
  const chain = new Chain(primary);
  for (let index = 0; index < links.length; index++) {
    if (index > 0 && index % VERIFY_SLICE === 0) await new Promise((r) => setTimeout(r, 0));
    try {
      chain.push(verifyLink(links[index]));
    } catch (e) {
      if (e instanceof SigchainError) throw new ChainError(index, e.code);
      throw e;
    }
  }
  return chain;
}

/** The payload of the link after `chain`'s head. */
export function nextLinkPayload(chain: Chain, body: LinkBody, createdAt: string): LinkPayload {
  return linkPayload(chain.primary, chain.length + 1, chain.head, createdAt, body);
}

export function linkPayload(primary: string, seq: number, prev: string | null, createdAt: string, body: LinkBody): LinkPayload {
  return { type: LINK_TYPE, version: 1, primary, seq, prev, created_at: createdAt, body };
}

/** Signs a link payload with the 32-byte seed into its envelope. */
export function signLink(seed: Uint8Array, payload: LinkPayload): SignedLink {
  return { kez: LINK_TAG, payload, signature: { alg: ALG, key: primaryFromSeed(seed), sig: signJcs(seed, payload) } };
}

/** Builds and signs the proof statement of `claim` (SPEC §15). */
export function buildProof(seed: Uint8Array, claim: Claim, createdAt: string): SignedProof {
  const payload: ProofPayload = { type: PROOF_TYPE, version: 1, primary: primaryFromSeed(seed), service: claim.service, name: claim.name, created_at: createdAt };
  return { kez: PROOF_TAG, payload, signature: { alg: ALG, key: payload.primary, sig: signJcs(seed, payload) } };
}

/**
 * Checks a proof statement (no clock window): safe numbers, shape, envelope
 * and signature, then `unknown_service`, `invalid_claim_name`,
 * `invalid_timestamp`. Whether its key and name match a claim is the caller's.
 */
export function verifyProof(envelope: unknown): ProofPayload {
  if (hasUnsafeNumber(envelope)) throw new SigchainError('unsafe_number');
  const keys = ['type', 'version', 'primary', 'service', 'name', 'created_at'];
  const shapeOk = envelopeShapeOk(envelope, (p) => exactKeys(p, keys) && [p.type, p.primary, p.service, p.name, p.created_at].every(str) && uint(p.version));
  if (!shapeOk) throw new SigchainError('invalid_body');
  const e = envelope as SignedProof;
  checkEnvelope(e, PROOF_TAG, PROOF_TYPE);
  const p = e.payload;
  if (!isService(p.service)) throw new SigchainError('unknown_service');
  if (!validName(p.service, p.name)) throw new SigchainError('invalid_claim_name');
  if (!isStrictUtcSeconds(p.created_at)) throw new SigchainError('invalid_timestamp');
  return p;
}
