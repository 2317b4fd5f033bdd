// Relay housekeeping that talks to the network (SPEC §12 "Relay hygiene"):
// the NIP-65 relay list and a kind 0 (the profile's, else a minimal one)
// published once per identity and relay set, and the NIP-11 limits of the relays the page may ask. The
// decisions themselves are pure, in hygiene.ts.
import type { Event } from 'nostr-tools/pure';
import type { KV } from '../kv';
import { buildMetadataEvent, buildRelayListEvent, maxMessageLength, MAX_INFO_BYTES, minimalMetadata, relayInfoUrl, relaySetKey } from './hygiene';

export interface AnnounceInput {
  /** Sealed KV and the record that remembers the relay set last announced to. */
  kv: KV;
  recordKey: string;
  relays: readonly string[];
  primary: string;
  fqhn: string;
  /** The derived nostr key (SPEC §12). */
  secretKey: Uint8Array;
  /** Unix seconds. */
  now: number;
  publish: (event: Event) => Promise<unknown>;
  /**
   * The identity's profile kind 0 (SPEC §14.6), when one is known: asked
   * right before the kind 0 goes out and republished as is in its place, so
   * an announcement never replaces a profile with the minimal kind 0
   * (both are replaceable events of the same key). Absent = none.
   */
  profileEvent?: () => Promise<Event | null>;
}

/**
 * Publish the kind 10002 relay list and a kind 0 unless this relay set was
 * announced before (the record holds relaySetKey of it): the profile's kind
 * 0 when the identity has one (`profileEvent`), else the minimal one. The
 * record is written only when both were accepted by at least one relay, so a
 * failed attempt is tried again at the next unlock. Returns whether it
 * published.
 */
export async function announceOnce(a: AnnounceInput): Promise<boolean> {
  const set = relaySetKey(a.relays);
  if (!set || (await a.kv.get<string>(a.recordKey)) === set) return false;
  await a.publish(buildRelayListEvent(a.relays, a.secretKey, a.now));
  const profile = (await a.profileEvent?.()) ?? null;
  await a.publish(profile ?? buildMetadataEvent(minimalMetadata(a.fqhn), a.primary, a.secretKey, a.now));
  await a.kv.set(a.recordKey, set);
  return true;
}

/**
 * A relay's NIP-11 `limitation.max_message_length` (bytes): GET on its URL
 * with ws → http, wss → https and `Accept: application/nostr+json`, 5 s at
 * most, a document of at most MAX_INFO_BYTES. null when it cannot be read or
 * names no limit: then the relay's own `OK false` decides.
 */
export async function fetchMaxMessageLength(relay: string, fetchFn: typeof fetch): Promise<number | null> {
  const url = relayInfoUrl(relay);
  if (!url) return null;
  try {
    const res = await fetchFn(url, { headers: { accept: 'application/nostr+json' }, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return null;
    const text = await res.text();
    if (text.length > MAX_INFO_BYTES) return null;
    return maxMessageLength(JSON.parse(text));
  } catch {
    return null;
  }
}
