// Per-conversation actions (issue 13): block, mute, delete, note to self and
// on-device search. ChatStore keeps one ConvoActions and hands it what it
// needs; the state stays the store's (conversations and threads, sealed in
// the history KV, SPEC §8.2) and every write goes through its queue.
import { BLOCK_LIST_FULL, BlockList } from './blocklist.svelte';
import type { SealedMessage } from './envelope';
import { SettingsSync } from './settingsync';
import type { KV } from './kv';
import type { ChatAccess, ChatMessage, Conversation } from './records';
import { search, type HitGroup } from './search';
import { rfc3339 } from './time';

/** What ConvoActions may use of the ChatStore. */
export interface ConvoHost {
  chat: ChatAccess;
  /** The sealed history KV and the store's record names (`chat:<own primary>:<part>`). */
  kv: KV;
  key(part: string): string;
  own: { primary: string; fqhn: string };
  /** The conversation with `peer`, created (with its handle) when missing. */
  ensure(peer: string, handle: string | null): Conversation;
  /** Forget the in-memory thread of `peer`. */
  dropThread(peer: string): void;
  /** Delete the stored bytes of these messages' files, and the peer's incoming transfers (Attachments.forget). */
  forgetFiles(peer: string, messages: readonly ChatMessage[]): Promise<void>;
  /**
   * Drop what still waits for `peer`: unsealed posts in the send queue
   * (Outbox.forget), pending ops (MessageOps.forget); and put `sentIds` in the
   * replay guard, so self-copies of them still on their way are not filed.
   */
  forgetQueued?(peer: string, sentIds: readonly string[]): Promise<void>;
}

/** Own message ids of a deleted thread put in the replay guard at most (the newest): copies older than a week are stale anyway (SPEC §8). */
export const MAX_FORGOTTEN_IDS = 1000;
/** How far back a deleted thread's own messages may still have a self-copy on its way (ms): the §8 freshness window. */
const COPY_WINDOW_MS = 7 * 24 * 3600_000;

/** The ids (and earlier ids) of the own messages of `thread` sent within COPY_WINDOW_MS of `now`, newest MAX_FORGOTTEN_IDS. */
export function recentSentIds(thread: readonly ChatMessage[], now: Date): string[] {
  const since = new Date(now.getTime() - COPY_WINDOW_MS).toISOString().slice(0, 19) + 'Z';
  const ids = thread.filter((m) => m.dir === 'out' && m.sent_at >= since).flatMap((m) => [m.id, ...(m.prev_ids ?? [])]);
  return ids.slice(-MAX_FORGOTTEN_IDS);
}

export class ConvoActions {
  readonly #h: ConvoHost;
  /** The blocked primaries (a sealed record of its own). */
  readonly blocks: BlockList;
  /** Block and mute follow the identity (SPEC §8.7). */
  readonly #sync: SettingsSync;

  constructor(host: ConvoHost) {
    this.#h = host;
    this.blocks = new BlockList(host.kv, host.key('blocked'));
    this.#sync = new SettingsSync({
      chat: host.chat,
      kv: host.kv,
      key: host.key('sync'),
      own: host.own.primary,
      blocked: () => this.blocks.list,
      replaceBlocked: (list) => this.blocks.replace(list),
    });
  }

  /** Read the block list and the last snapshot (ChatStore.load); re-post a snapshot older than a day (SPEC §8.7). */
  async load(): Promise<void> {
    await this.blocks.load();
    await this.#sync.load();
    const again = await this.#sync.stale();
    if (again) void this.#sync.post(again);
  }

  /** A snapshot from a device of this identity (Inbound, queued): replaces the lists when later. */
  applySync(msg: SealedMessage): Promise<void> {
    return this.#sync.apply(msg);
  }

  /** Whether the identity's last snapshot muted `peer`: a conversation that starts here with it starts muted. */
  mutedElsewhere(peer: string): boolean {
    return this.#sync.muted(peer);
  }

  /** Whether `peer` is blocked: what it sends is dropped and never acknowledged (inbound.ts). */
  blocked(peer: string): boolean {
    return this.blocks.has(peer);
  }

  /**
   * Block or unblock `peer` (never oneself) on every device of the identity
   * (SPEC §8.7). Null when done, else the sentence to show (the list is full:
   * a block is refused, no older one is dropped).
   */
  async setBlocked(peer: string, on: boolean): Promise<string | null> {
    if (peer === this.#h.own.primary) return null;
    const m = await this.#h.chat.serial(async () => {
      if (on && this.blocks.full && !this.blocks.has(peer)) return BLOCK_LIST_FULL;
      const changed = on ? await this.blocks.block(peer) : await this.blocks.unblock(peer);
      return changed ? this.#sync.changed() : null;
    });
    if (typeof m === 'string') return m;
    if (m) await this.#sync.post(m);
    return null;
  }

  /** Mute or unmute on every device of the identity: a muted conversation bumps no unread count, so no badge or title count. */
  async setMuted(peer: string, on: boolean): Promise<void> {
    const m = await this.#h.chat.serial(async () => {
      const c = this.#h.chat.conversation(peer);
      if (!c || !!c.muted === on) return null;
      if (on) c.muted = true;
      else delete c.muted;
      await this.#h.chat.saveConvs();
      return this.#sync.changed();
    });
    if (m) await this.#sync.post(m);
  }

  /**
   * Delete the conversation with `peer` from this device: its thread, its
   * messages' stored file bytes, the peer's incoming files still arriving,
   * what the send queue holds for it (not yet sealed), its pending ops and
   * the conversation record; self-copies of its recent own messages are not
   * filed again (recentSentIds). A later message from the peer starts a
   * fresh conversation (unless blocked).
   */
  delete(peer: string): Promise<void> {
    const { chat, kv, key } = this.#h;
    return chat.serial(async () => {
      const thread = chat.loadedThread(peer) ?? (await kv.get<ChatMessage[]>(key(`msgs:${peer}`))) ?? [];
      // Out of memory first: a file's next chunk checks the loaded thread before it is sealed (Sender), and must see it gone now.
      this.#h.dropThread(peer);
      await this.#h.forgetQueued?.(peer, recentSentIds(thread, chat.now()));
      await this.#h.forgetFiles(peer, thread.filter((m) => m.attachment));
      await kv.del(key(`msgs:${peer}`));
      this.#h.dropThread(peer);
      const convs = chat.conversations();
      const i = convs.findIndex((c) => c.peer_primary === peer);
      if (i !== -1) convs.splice(i, 1);
      await chat.saveConvs();
    });
  }

  /** The note-to-self conversation (SPEC §8.3 "Note to self"), made if missing; its peer (the own primary). */
  noteToSelf(): Promise<string> {
    const { chat, own } = this.#h;
    return chat.serial(async () => {
      const c = this.#h.ensure(own.primary, own.fqhn);
      if (!c.last_at) c.last_at = rfc3339(chat.now());
      await chat.saveConvs();
      return own.primary;
    });
  }

  /** Search every conversation on this device (search.ts); nothing leaves it. */
  search(query: string, signal?: AbortSignal): Promise<HitGroup[]> {
    const { chat, kv, key } = this.#h;
    return search(
      {
        conversations: () => chat.conversations(),
        // Threads not open yet are read from the KV without making them reactive state.
        thread: async (peer) => chat.loadedThread(peer) ?? (await kv.get<ChatMessage[]>(key(`msgs:${peer}`))) ?? [],
      },
      query,
      { signal },
    );
  }
}

/** The title of the conversation with oneself. */
export const NOTE_TO_SELF = 'Note to self';

/** A conversation's title: "Note to self" for one's own primary, else the handle or the short key. */
export function convTitle(peer: string, handle: string | null, ownPrimary: string, short: (p: string) => string): string {
  if (peer === ownPrimary) return NOTE_TO_SELF;
  return handle ?? short(peer);
}
