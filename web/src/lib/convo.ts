// Per-conversation actions (issue 13): block, mute, delete, note to self and
// on-device search. ChatStore keeps one ConvoActions and hands it what it
// needs; the state stays the store's (conversations and threads, sealed in
// the history KV, SPEC §8.2) and every write goes through its queue.
import { BlockList } from './blocklist.svelte';
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
  /** Delete the stored bytes of these messages' files. */
  forgetFiles(peer: string, messages: readonly ChatMessage[]): Promise<void>;
}

export class ConvoActions {
  readonly #h: ConvoHost;
  /** The blocked primaries (a sealed record of its own). */
  readonly blocks: BlockList;

  constructor(host: ConvoHost) {
    this.#h = host;
    this.blocks = new BlockList(host.kv, host.key('blocked'));
  }

  /** Read the block list (ChatStore.load). */
  load(): Promise<void> {
    return this.blocks.load();
  }

  /** Whether `peer` is blocked: what it sends is dropped and never acknowledged (inbound.ts). */
  blocked(peer: string): boolean {
    return this.blocks.has(peer);
  }

  /** Block or unblock `peer`; never oneself. */
  setBlocked(peer: string, on: boolean): Promise<void> {
    if (peer === this.#h.own.primary) return Promise.resolve();
    return this.#h.chat.serial(() => (on ? this.blocks.block(peer) : this.blocks.unblock(peer)));
  }

  /** Mute or unmute: a muted conversation bumps no unread count, so no badge or title count. */
  setMuted(peer: string, on: boolean): Promise<void> {
    return this.#h.chat.serial(async () => {
      const c = this.#h.chat.conversation(peer);
      if (!c) return;
      if (on) c.muted = true;
      else delete c.muted;
      await this.#h.chat.saveConvs();
    });
  }

  /**
   * Delete the conversation with `peer` from this device: its thread, its
   * messages' stored file bytes and the conversation record. A later
   * message from the peer starts a fresh conversation (unless blocked).
   */
  delete(peer: string): Promise<void> {
    const { chat, kv, key } = this.#h;
    return chat.serial(async () => {
      const thread = chat.loadedThread(peer) ?? (await kv.get<ChatMessage[]>(key(`msgs:${peer}`))) ?? [];
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
