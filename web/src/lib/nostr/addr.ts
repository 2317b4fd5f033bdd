// The nostr routing address (SPEC §12), apart from keys.ts: computing it needs
// SHA-256 only, not secp256k1 and nostr-tools, which load with the nostr
// transport (nostr/kit.ts) rather than with the app.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '../bytes';

/** Domain-separation prefix of {@link addr}; the primary follows directly. */
export const ADDR_LABEL = 'kez.chat.nostr.addr.v1\n';

/**
 * The routing address of a primary `ed25519:<64 hex>` (SPEC §12): 64
 * lowercase hex of SHA-256(UTF-8("kez.chat.nostr.addr.v1\n" + primary)).
 * Hides handle and server, but anyone who knows the primary computes it.
 */
export function addr(primary: string): string {
  return bytesToHex(sha256(utf8ToBytes(ADDR_LABEL + primary)));
}
