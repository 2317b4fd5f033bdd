// A fake WebAuthn authenticator at the navigator.credentials boundary: one
// secret per credential, PRF = HMAC-SHA256(secret, salt) as CTAP2
// hmac-secret does. Only the unit tests use it; the e2e uses Chromium's.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '../src/lib/bytes';
import type { CredentialsLike } from '../src/lib/passkey';

export type PrfMode = 'create' | 'get-only' | 'none';

/** A fake authenticator: one secret per credential; `mode` says where it answers the PRF. */
export function fakeAuthenticator(mode: PrfMode = 'create') {
  const secrets = new Map<string, Uint8Array>();
  const seen: { createUserId?: Uint8Array; createOpts?: CredentialCreationOptions; gets: number; fail?: string } = { gets: 0 };
  const prfOf = (id: Uint8Array, ext: unknown) => {
    const first = (ext as { prf?: { eval?: { first?: Uint8Array } } })?.prf?.eval?.first;
    const secret = secrets.get(Buffer.from(id).toString('hex'));
    return first && secret ? hmac(sha256, secret, new Uint8Array(first)).buffer : undefined;
  };
  const cred = (id: Uint8Array, results: ArrayBuffer | undefined, enabled: boolean) =>
    ({
      rawId: id.buffer,
      getClientExtensionResults: () => ({ prf: mode === 'none' ? undefined : { enabled, ...(results ? { results: { first: results } } : {}) } }),
    }) as unknown as Credential;
  const creds: CredentialsLike = {
    async create(opts) {
      if (seen.fail) throw new DOMException('cancelled', seen.fail);
      const pk = opts.publicKey!;
      seen.createOpts = opts;
      seen.createUserId = new Uint8Array(pk.user.id as ArrayBuffer);
      const id = randomBytes(16);
      secrets.set(Buffer.from(id).toString('hex'), randomBytes(32));
      return cred(id, mode === 'create' ? prfOf(id, pk.extensions) : undefined, mode !== 'none');
    },
    async get(opts) {
      seen.gets++;
      if (seen.fail) throw new DOMException('cancelled', seen.fail);
      const pk = opts.publicKey!;
      const id = new Uint8Array(pk.allowCredentials![0].id as ArrayBuffer);
      return cred(id, mode === 'none' ? undefined : prfOf(id, pk.extensions), mode !== 'none');
    },
  };
  return { creds, seen, secrets };
}

