/**
 * The wiring of ChatStore's inbound side (inbound.ts) and its transports
 * (transports.ts): which of the store's state and sub-services each one
 * reads and calls. Kept apart from chat.svelte.ts so the facade holds the
 * state and the public methods, and this module only says what connects
 * to what; nothing here keeps state of its own.
 */
import type { Api, ChatAccess, ChatDeps, Conversation } from './records';
import type { ChatStore } from './chat.svelte';
import type { HandleDirectory } from './directory';
import type { KV } from './kv';
import type { Receipts } from './receipts';
import type { SeenIds } from './seen';
import { CopyQueue } from './history/copyqueue';
import { Inbound } from './inbound';
import type { Outbox } from './outbox';
import { Transports } from './transports';

/** What of ChatStore the wiring needs: its public side, plus the private parts it hands over. */
export interface StoreParts {
  readonly store: ChatStore;
  readonly chat: ChatAccess;
  readonly deps: ChatDeps;
  readonly api: Api;
  readonly kv: KV;
  readonly seen: SeenIds;
  readonly directory: HandleDirectory;
  readonly receipts: Receipts;
  now(): Date;
  closed(): boolean;
  key(part: string): string;
  ensureConversation(peer: string, handle: string | null): Conversation;
  peerHandle(peer: string): Promise<string>;
  /** Created after the wiring object: read only when called. */
  inbound(): Inbound;
  transports(): Transports;
  copies(): CopyQueue;
}

/** The inbound side (inbound.ts) over the store's state. */
export function wireInbound(p: StoreParts): Inbound {
  const store = p.store;
  return new Inbound({
    chat: p.chat,
    seed: p.deps.me.seed,
    seen: p.seen,
    lastSeq: () => store.lastSeq,
    setLastSeq: (seq) => (store.lastSeq = seq),
    saveSeq: (seq) => p.kv.set(p.key('seq'), seq),
    ensureConversation: (peer, handle) => p.ensureConversation(peer, handle),
    resolveHandle: (peer, claimed) => p.directory.resolve(peer, claimed),
    viewing: (peer) => store.activePeer === peer && (typeof document === 'undefined' || document.visibilityState === 'visible'),
    applyAck: (peer, body) => p.receipts.applyAck(peer, body),
    ackedBefore: (peer, id) => p.receipts.ackedBefore(peer, id),
    earlyAckUsed: (peer, id) => p.receipts.early?.used(peer, id),
    applyFile: (msg) => store.files.apply(msg),
    applyOp: (msg) => store.ops.receive(msg),
    arrived: (peer, id) => store.ops.arrived(peer, id),
    putOutFile: (peer, id, bytes) => store.files.putOut(peer, id, bytes),
    scheduleAck: (peer) => p.receipts.schedule(peer),
    saveSince: () => p.transports().saveSince(),
    convo: { blocked: (peer) => store.convo.blocked(peer), applySync: (msg) => store.convo.applySync(msg) },
    live: store.presence,
  });
}

/** The transports (transports.ts): what they read of the store and what they report to it. */
export function wireTransports(p: StoreParts): Transports {
  const store = p.store;
  return new Transports({
    deps: p.deps,
    api: p.api,
    now: () => p.now(),
    closed: () => p.closed(),
    transport: () => store.transport,
    relays: () => store.relays,
    peerHandle: (peer) => p.peerHandle(peer),
    queueCopy: (c) => p.copies().add(c),
    onRelayStates: (s, problems) => {
      store.relayStates = s;
      store.relayProblems = problems;
    },
    peerRelay: (peer) => store.conversation(peer)?.peer_relay,
    key: (part) => p.key(part),
    lastSeq: () => store.lastSeq,
    rewind: (newest) => p.inbound().rewind(newest),
    ingest: (items) => store.ingest(items),
    ingestNostr: (ev, relay) => store.ingestNostr([ev], relay),
    ingestEphemeral: (envelope) => p.inbound().ingestEphemeral(envelope),
    setLive: (s) => {
      const was = store.live;
      store.live = s;
      if (s === 'live') store.liveProblem = null;
      // Back online: what failed for want of a connection may go through now.
      if (s === 'live' && was !== 'live') {
        void store.retryFailed();
        void store.files.receiver.flushAcks();
      }
    },
    setLiveProblem: (problem) => (store.liveProblem = problem),
  });
}

/** The self-copies' queue (history/copyqueue.ts): posted by the transports, paced with the send queue. */
export function wireCopies(p: StoreParts, outbox: Outbox): CopyQueue {
  return new CopyQueue({
    kv: p.kv,
    key: p.key('self_copies'),
    closed: () => p.closed(),
    now: () => p.now(),
    send: (c) => p.transports().postCopy(c),
    // Copies go with notify false: the silent bucket's pause, the texts' is not theirs (SPEC §7.5).
    pause: () => outbox.pause('silent'),
    hold: (ms) => outbox.hold(ms, 'silent'),
    sleep: p.deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  });
}
