// The body of a sealed `sync` message (SPEC §8.7): a full snapshot of the
// identity's block and mute lists, sent to itself so its other devices
// follow. The exact JCS of {"blocked","muted","type"}; kez-core's sync.rs
// applies the same rules (tests/vectors/sync.json).
import { isValidPrimary } from './identity';
import { jcs } from './jcs';

/** The `type` of a sync body. */
export const SYNC_TYPE = 'kez-sync-v1';
/** Most primaries in each list of a snapshot. */
export const MAX_SYNC_LIST = 1000;

/** What a snapshot says: both lists sorted ascending, no repeats. */
export interface SyncSnapshot {
  blocked: string[];
  muted: string[];
}

function norm(list: readonly string[]): string[] {
  // Primaries are ASCII: code-unit order is byte order, as in Rust.
  return [...new Set(list)].sort();
}

/** The exact body of a snapshot (lists sorted and deduplicated here; the caller bounds them). */
export function syncBody(blocked: readonly string[], muted: readonly string[]): string {
  return jcs({ type: SYNC_TYPE, blocked: norm(blocked), muted: norm(muted) });
}

function listOk(l: unknown): l is string[] {
  if (!Array.isArray(l) || l.length > MAX_SYNC_LIST) return false;
  return l.every((p, i) => typeof p === 'string' && isValidPrimary(p) && (i === 0 || l[i - 1] < p));
}

/** The snapshot a body holds, or null (`malformed_message`): exact JCS, exact fields, sorted distinct primaries, ≤ MAX_SYNC_LIST each. */
export function parseSyncBody(body: string): SyncSnapshot | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || jcs(v) !== body) return null;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length !== 3 || o.type !== SYNC_TYPE || !listOk(o.blocked) || !listOk(o.muted)) return null;
  return { blocked: o.blocked, muted: o.muted };
}
