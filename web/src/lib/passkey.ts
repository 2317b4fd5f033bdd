// Passkey unlock (issue 13; SPEC §8.2): a local-only way in next to the
// passphrase. A WebAuthn credential with the PRF extension gives 32 bytes
// that only that authenticator (after user verification) can reproduce for
// our salt; HKDF-SHA256 turns them into an AES-256-GCM key that seals the
// seed. No server part: the assertion itself is never checked, only whether
// its PRF output opens the sealed seed.
//
// Stored in clear under `passkey:<primary>`: credential id, PRF salt, nonce,
// the sealed seed and the creation date. Without the authenticator the
// record is useless; the passphrase vault stays and remains a way in.
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromB64url, randomBytes, toB64url, utf8ToBytes } from './bytes';
import { parsePrimary, primaryFromSeed } from './identity';
import type { KV } from './kv';

/** HKDF info (and AAD prefix) of the passkey wrap; bump the version to re-key. */
export const PASSKEY_INFO = 'kez.chat.passkey-wrap.v1';
export const PASSKEY_PREFIX = 'passkey:';
/** How long the browser's passkey dialog may stay open (ms). */
export const PASSKEY_TIMEOUT_MS = 60_000;

/** The stored record (all byte strings base64url without padding). */
export interface PasskeyRecord {
  v: 1;
  credential_id: string;
  /** 32 random bytes: the PRF input (`eval.first`) and the HKDF salt. */
  salt: string;
  iv: string;
  /** AES-256-GCM of the 32-byte seed, AAD = `kez.chat.passkey-wrap.v1\n<primary>`. */
  ct: string;
  primary: string;
  created_at: string;
}

/** The part of `navigator.credentials` used here (unit tests stub it). */
export interface CredentialsLike {
  create(opts: CredentialCreationOptions): Promise<Credential | null>;
  get(opts: CredentialRequestOptions): Promise<Credential | null>;
}

/** A failure with a sentence for the user (`code` for tests and callers). */
export class PasskeyError extends Error {
  constructor(
    readonly code: 'unsupported' | 'no_prf' | 'cancelled' | 'not_found' | 'wrong_key' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'PasskeyError';
  }
}

const NO_PRF =
  'This passkey provider can’t derive an encryption key (it lacks the WebAuthn PRF extension), so it can’t unlock kez-chat. Nothing was saved; your passphrase still works.';

const recordKey = (primary: string) => `${PASSKEY_PREFIX}${primary}`;
const buf = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

/** WebAuthn `user.id`: the raw 32-byte Ed25519 public key (never the 72-byte `ed25519:<hex>`; the limit is 64). */
export function passkeyUserId(primary: string): Uint8Array {
  return parsePrimary(primary);
}

/** The AES-256-GCM key from a PRF output: HKDF-SHA256(ikm = prf, salt, info = PASSKEY_INFO). */
export function wrapKey(prf: Uint8Array, salt: Uint8Array): Uint8Array {
  if (prf.length < 32) throw new PasskeyError('no_prf', NO_PRF);
  return hkdf(sha256, prf, salt, utf8ToBytes(PASSKEY_INFO), 32);
}

const aad = (primary: string) => utf8ToBytes(`${PASSKEY_INFO}\n${primary}`);

/** Seal `seed` under the PRF output; the record to store. */
export function sealSeed(prf: Uint8Array, salt: Uint8Array, seed: Uint8Array, credentialId: Uint8Array, now = new Date()): PasskeyRecord {
  const primary = primaryFromSeed(seed);
  const iv = randomBytes(12);
  const ct = gcm(wrapKey(prf, salt), iv, aad(primary)).encrypt(seed);
  return {
    v: 1,
    credential_id: toB64url(credentialId),
    salt: toB64url(salt),
    iv: toB64url(iv),
    ct: toB64url(ct),
    primary,
    created_at: now.toISOString(),
  };
}

/** The seed from `rec` and a PRF output; `wrong_key` if it does not open or names another identity. */
export function openSeed(rec: PasskeyRecord, prf: Uint8Array): Uint8Array {
  let seed: Uint8Array;
  try {
    seed = gcm(wrapKey(prf, fromB64url(rec.salt)), fromB64url(rec.iv), aad(rec.primary)).decrypt(fromB64url(rec.ct));
  } catch {
    throw new PasskeyError('wrong_key', 'This passkey doesn’t unlock this identity. Use your passphrase.');
  }
  if (primaryFromSeed(seed) !== rec.primary) throw new PasskeyError('wrong_key', 'This passkey belongs to another identity. Use your passphrase.');
  return seed;
}

/** A sentence for a WebAuthn failure (DOMException names per the WebAuthn spec). */
export function passkeyErrorText(e: unknown): PasskeyError {
  if (e instanceof PasskeyError) return e;
  const name = e instanceof Error ? e.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError')
    return new PasskeyError('cancelled', 'The passkey request was cancelled or timed out. Try again, or use your passphrase.');
  if (name === 'InvalidStateError') return new PasskeyError('failed', 'This device already holds a kez-chat passkey for this identity. Remove it in your passkey manager, then try again.');
  if (name === 'SecurityError') return new PasskeyError('unsupported', 'Passkeys need a secure address (https or localhost) with a domain name.');
  if (name === 'NotSupportedError') return new PasskeyError('unsupported', 'This device has no passkey provider that kez-chat can use.');
  return new PasskeyError('failed', 'The passkey didn’t work. Your passphrase still unlocks kez-chat.');
}

/** The PRF `first` output of a WebAuthn answer, or null. */
function prfFirst(cred: Credential | null): Uint8Array | null {
  const pk = cred as PublicKeyCredential | null;
  const res = pk?.getClientExtensionResults?.() as { prf?: { enabled?: boolean; results?: { first?: BufferSource } } } | undefined;
  const first = res?.prf?.results?.first;
  if (!first) return null;
  return first instanceof ArrayBuffer ? new Uint8Array(first) : new Uint8Array((first as ArrayBufferView).buffer.slice(0));
}

function prfEnabled(cred: Credential | null): boolean {
  const res = (cred as PublicKeyCredential | null)?.getClientExtensionResults?.() as { prf?: { enabled?: boolean } } | undefined;
  return res?.prf?.enabled === true;
}

/** One assertion asking for the PRF of `salt` with credential `id`; its output or null. */
async function assertPrf(creds: CredentialsLike, rpId: string, id: Uint8Array, salt: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | null> {
  const cred = await creds.get({
    signal,
    publicKey: {
      challenge: buf(randomBytes(32)),
      rpId,
      allowCredentials: [{ type: 'public-key', id: buf(id) }],
      userVerification: 'required',
      timeout: PASSKEY_TIMEOUT_MS,
      extensions: { prf: { eval: { first: buf(salt) } } } as AuthenticationExtensionsClientInputs,
    },
  });
  return prfFirst(cred);
}

/** Where the passkey record lives (clear KV, SPEC §8.2). */
export class PasskeyStore {
  constructor(private readonly kv: KV) {}

  load(primary: string): Promise<PasskeyRecord | undefined> {
    return this.kv.get<PasskeyRecord>(recordKey(primary)).then((r) => (r?.v === 1 ? r : undefined));
  }

  remove(primary: string): Promise<void> {
    return this.kv.del(recordKey(primary));
  }

  /**
   * Create a passkey for the unlocked identity and store the sealed seed.
   * Throws PasskeyError (`no_prf` stores nothing). `name` labels the passkey
   * in the user's passkey manager (handle@server, else a short key).
   */
  async enroll(creds: CredentialsLike, seed: Uint8Array, opts: { rpId: string; name: string; now?: Date }): Promise<PasskeyRecord> {
    const primary = primaryFromSeed(seed);
    const salt = randomBytes(32);
    let cred: Credential | null;
    try {
      cred = await creds.create({
        publicKey: {
          rp: { id: opts.rpId, name: 'kez-chat' },
          user: { id: buf(passkeyUserId(primary)), name: opts.name, displayName: opts.name },
          challenge: buf(randomBytes(32)),
          pubKeyCredParams: [
            { type: 'public-key', alg: -8 },
            { type: 'public-key', alg: -7 },
            { type: 'public-key', alg: -257 },
          ],
          authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
          timeout: PASSKEY_TIMEOUT_MS,
          extensions: { prf: { eval: { first: buf(salt) } } } as AuthenticationExtensionsClientInputs,
        },
      });
    } catch (e) {
      throw passkeyErrorText(e);
    }
    if (!cred) throw new PasskeyError('cancelled', 'No passkey was created.');
    const id = new Uint8Array((cred as PublicKeyCredential).rawId);
    // Some authenticators give the PRF only on assertion: one more prompt then.
    let prf = prfFirst(cred);
    if (!prf && prfEnabled(cred)) {
      try {
        prf = await assertPrf(creds, opts.rpId, id, salt);
      } catch (e) {
        throw passkeyErrorText(e);
      }
    }
    if (!prf) throw new PasskeyError('no_prf', NO_PRF);
    const rec = sealSeed(prf, salt, seed, id, opts.now);
    // Check the round trip before storing, so a stored record always opens.
    openSeed(rec, prf).fill(0);
    await this.kv.set(recordKey(primary), rec);
    return rec;
  }

  /** Ask the authenticator for the PRF and open the seed of `primary`. */
  async unlock(creds: CredentialsLike, primary: string, rpId: string, signal?: AbortSignal): Promise<Uint8Array> {
    const rec = await this.load(primary);
    if (!rec) throw new PasskeyError('not_found', 'No passkey is set up for this identity on this device.');
    let prf: Uint8Array | null;
    try {
      prf = await assertPrf(creds, rpId, fromB64url(rec.credential_id), fromB64url(rec.salt), signal);
    } catch (e) {
      throw passkeyErrorText(e);
    }
    if (!prf) throw new PasskeyError('no_prf', 'The passkey answered without its encryption key (PRF). Use your passphrase.');
    return openSeed(rec, prf);
  }
}

/** The browser's credentials container when WebAuthn exists, else null. */
export function browserCredentials(): CredentialsLike | null {
  if (typeof window === 'undefined' || !window.PublicKeyCredential || !navigator.credentials) return null;
  return navigator.credentials;
}
