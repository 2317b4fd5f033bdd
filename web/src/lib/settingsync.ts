// Block and mute follow the identity (SPEC §8.7): after a change this device
// posts a full snapshot of both lists to itself (kind `sync`, notify false,
// never acked); a snapshot from any device of the identity that is later, by
// (sent_at, id), than the last one applied or posted replaces the lists here.
// The record `chat:<own>:sync` (sealed, SPEC §8.2) keeps that snapshot, so it
// can be re-posted for a device restored later (within the mailbox's
// retention) and so a muted peer without a conversation here is muted once
// one starts.
import { newMessageId } from './bytes';
import { snapshotRetryDelay } from './history/snapshotretry';
import type { KV } from './kv';
import type { ChatAccess, Outgoing } from './records';
import { MAX_SYNC_LIST, parseSyncBody, syncBody, type SyncSnapshot } from './syncbody';
import { parseRfc3339, rfc3339 } from './time';
import type { SealedMessage } from './envelope';

/** The last snapshot applied or posted here. */
interface SyncRecord {
  id: string;
  sent_at: string;
  body: string;
}

/** Re-post the snapshot at load once it is older than this (the mailbox keeps 48 h, SPEC §7.5). */
export const REPOST_AFTER_MS = 24 * 3600_000;
/** Up to this age a re-post keeps the snapshot's id and sent_at (then overrides nothing newer); older ones get new ones (envelopes expire at 7 days). */
export const KEEP_STAMP_MS = 6 * 24 * 3600_000;

/** Whether snapshot `a` is later than `b` (sent_at, then id, compared as text). */
export function later(a: Pick<SyncRecord, 'id' | 'sent_at'>, b: Pick<SyncRecord, 'id' | 'sent_at'> | null): boolean {
  if (!b) return true;
  return a.sent_at !== b.sent_at ? a.sent_at > b.sent_at : a.id > b.id;
}

/** What SettingsSync may use of the store. */
export interface SyncHost {
  chat: ChatAccess;
  kv: KV;
  /** The record's name (`chat:<own primary>:sync`). */
  key: string;
  own: string;
  /** The current lists on this device (blocked; muted conversations). */
  blocked(): readonly string[];
  /** Replace the block list with a synced one. */
  replaceBlocked(list: readonly string[]): Promise<void>;
}

export class SettingsSync {
  readonly #h: SyncHost;
  #rec: SyncRecord | null = null;
  #muted = new Set<string>();

  constructor(host: SyncHost) {
    this.#h = host;
  }

  async load(): Promise<void> {
    const rec = await this.#h.kv.get<SyncRecord>(this.#h.key);
    const snap = rec && typeof rec.body === 'string' ? parseSyncBody(rec.body) : null;
    this.#rec = snap && rec && typeof rec.id === 'string' && typeof rec.sent_at === 'string' ? rec : null;
    this.#muted = new Set(snap?.muted ?? []);
  }

  /** Whether the last snapshot muted `peer` (for a conversation that starts here later). */
  muted(peer: string): boolean {
    return this.#muted.has(peer);
  }

  /** The snapshot of this device's lists: muted = its muted conversations, plus snapshot mutes of peers it has no conversation with. */
  #snapshot(): SyncSnapshot {
    const convs = this.#h.chat.conversations();
    const here = new Set(convs.map((c) => c.peer_primary));
    const muted = [...convs.filter((c) => c.muted).map((c) => c.peer_primary), ...[...this.#muted].filter((p) => !here.has(p))];
    return { blocked: [...this.#h.blocked()].slice(0, MAX_SYNC_LIST), muted: muted.slice(0, MAX_SYNC_LIST) };
  }

  /** Queued (inside chat.serial): record a snapshot of the lists now; returns it to post with `post`. */
  async changed(): Promise<Outgoing> {
    const { blocked, muted } = this.#snapshot();
    // Later than the last one even within the same second: two quick changes must not race on a random id.
    const last = this.#rec ? parseRfc3339(this.#rec.sent_at) : 0;
    const at = Math.max(this.#h.chat.now().getTime(), last + 1000);
    const m: Outgoing = { kind: 'sync', id: newMessageId(), sent_at: rfc3339(new Date(at)), body: syncBody(blocked, muted) };
    await this.#save({ id: m.id, sent_at: m.sent_at, body: m.body });
    return m;
  }

  /** Post a snapshot to the own identity (notify false), retried in memory (snapshotRetryDelay); never rejects. */
  async post(m: Outgoing): Promise<void> {
    const { chat, own } = this.#h;
    for (let attempt = 0; !chat.closed; attempt++) {
      try {
        await chat.post(own, m, { notify: false });
        return;
      } catch (e) {
        const wait = snapshotRetryDelay(e, attempt);
        if (wait === null) return console.debug('sync not posted:', e);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Queued, at load: the snapshot again when it is older than REPOST_AFTER_MS (SPEC §8.7); the message to post, or null. */
  async stale(): Promise<Outgoing | null> {
    const rec = this.#rec;
    if (!rec) return null;
    const age = this.#h.chat.now().getTime() - parseRfc3339(rec.sent_at);
    if (!(age > REPOST_AFTER_MS)) return null;
    if (age < KEEP_STAMP_MS) return { kind: 'sync', id: rec.id, sent_at: rec.sent_at, body: rec.body };
    return this.changed();
  }

  /** Queued (Inbound): a snapshot from a device of this identity; applied when later than the last one. */
  async apply(msg: SealedMessage): Promise<void> {
    const snap = msg.from === this.#h.own ? parseSyncBody(msg.body) : null;
    if (!snap || !later(msg, this.#rec)) return;
    await this.#h.replaceBlocked(snap.blocked);
    const mutes = new Set(snap.muted);
    for (const c of this.#h.chat.conversations()) {
      if (mutes.has(c.peer_primary)) c.muted = true;
      else delete c.muted;
    }
    await this.#h.chat.saveConvs();
    await this.#save({ id: msg.id, sent_at: msg.sent_at, body: msg.body });
  }

  async #save(rec: SyncRecord): Promise<void> {
    this.#rec = rec;
    this.#muted = new Set(parseSyncBody(rec.body)?.muted ?? []);
    await this.#h.kv.set(this.#h.key, rec);
  }
}
