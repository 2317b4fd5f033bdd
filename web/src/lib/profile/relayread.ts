// Profiles read from relays (SPEC §14.6) with nostr-tools' pool: loaded with
// import() by publish.ts the first time a peer's profile is looked up there,
// so nostr-tools isn't part of the app's first load.
import { verifyEvent, type Event } from 'nostr-tools/pure';
import { SimplePool } from 'nostr-tools/pool';
import { addr } from '../nostr/addr';
import { MAX_PROFILE_BYTES, verifyProfile, type ProfilePayload } from './document';
import { newest, TIMEOUT_MS, type Expected } from './publish';

/**
 * The verified document inside a kind 0, or null (anyone may publish one
 * with that tag). `expected`: the handle/server it must name, as the home
 * server's answer must (SPEC §14.4, §14.6).
 */
export function profileFromEvent(ev: Event, primary: string, expected?: Expected): ProfilePayload | null {
  if (ev.kind !== 0 || ev.content.length > 2 * MAX_PROFILE_BYTES || !verifyEvent(ev)) return null;
  try {
    const c = JSON.parse(ev.content) as { kez_profile?: unknown };
    return verifyProfile(c?.kez_profile, primary, expected);
  } catch {
    return null;
  }
}

/** The newest verified profile of `primary` among the relays' kind 0 events, or null. */
export async function fetchNostrProfile(relays: string[], primary: string, expected?: Expected): Promise<ProfilePayload | null> {
  if (!relays.length) return null;
  const pool = new SimplePool();
  try {
    const events = await pool.querySync(relays, { kinds: [0], '#q': [addr(primary)], limit: 20 }, { maxWait: TIMEOUT_MS });
    return newest(events.map((e) => profileFromEvent(e, primary, expected)));
  } finally {
    pool.destroy();
  }
}

