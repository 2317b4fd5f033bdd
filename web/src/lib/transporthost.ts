/**
 * The contract between Transports (transports.ts) and the ChatStore that
 * owns it: everything the transports read of the store (identity, choice,
 * relays, mailbox position) and report back to it (live status, relay
 * states, what arrived). Kept in its own module so transports.ts holds only
 * how envelopes move; chatwiring.ts is the one implementation.
 */
import type { Event as NostrEvent } from 'nostr-tools/pure';
import type { InboxItem } from './api';
import type { PendingCopy } from './history/copyqueue';
import type { LiveStatus } from './inbox';
import type { RelayProblem, RelayState } from './nostr/transport';
import type { Api, ChatDeps } from './records';
import type { TransportChoice } from './relays';

/** What Transports reads of its ChatStore. */
export interface TransportHost {
  /** The store's own deps: identity, sealed KV, advertised relays and (tests) network parts. */
  readonly deps: ChatDeps;
  readonly api: Api;
  now(): Date;
  /** Set once the store is closed (locking): never seal after that. */
  closed(): boolean;
  transport(): TransportChoice;
  relays(): readonly string[];
  /** The peer's verified handle (for the server transport). */
  peerHandle(peer: string): Promise<string>;
  /** File the self-copy of an accepted original in the persisted queue (SPEC §8.3); on disk when it resolves, never rejects. */
  queueCopy(c: PendingCopy): Promise<void>;
  /** The relays' states or problems changed (only for the transport currently in use). */
  onRelayStates(states: Record<string, RelayState>, problems: Record<string, RelayProblem>): void;
  /** The relay the peer's last event came from (SPEC §12: published there first). */
  peerRelay(peer: string): string | undefined;
  /** The store's KV key naming, for the announcement record. */
  key(part: string): string;
  /** The server's mailbox position (SPEC §7.3) and what to do with what arrives live. */
  lastSeq(): number;
  rewind(newest: number): Promise<void>;
  ingest(items: InboxItem[]): Promise<void>;
  /** The events the nostr subscription brings. */
  ingestNostr(ev: NostrEvent, relay: string): Promise<void>;
  /** An ephemeral post from the inbox stream (SPEC §7.7): read receipts and typing only. */
  ingestEphemeral(envelope: unknown): Promise<void>;
  /** The live indicator: set from the inbox stream, or from the relays with transport `nostr`. */
  setLive(s: LiveStatus): void;
  setLiveProblem(problem: string): void;
}
