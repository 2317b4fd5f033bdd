// Shared by the ChatStore tests (chat, outbox, resend, receipts, directory):
// two identities on one in-memory server, and the ways to move time along.
import { ChatStore, type Me } from '../src/lib/chat.svelte';
import { memoryKV } from '../src/lib/kv';
import { FakeServer, seedFor } from './helpers';

export const aliceSeed = seedFor('alice');
export const bobSeed = seedFor('bob');
export const carolSeed = seedFor('carol');

/** alice and bob registered on one FakeServer, each with a ChatStore (acks batched over 0 ms, send retries without waiting). */
export function setup() {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const me = (seed: Uint8Array, handle: string, primary: string): Me => ({ seed, handle, primary, server: 'kez.test' });
  const akv = memoryKV();
  const bkv = memoryKV();
  // Without self-copies (SPEC §8.3): these tests count posts and mailboxes; history-sync.test.ts has them on.
  const alice = new ChatStore({ kv: akv, me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0, sleep: noWait, selfCopies: false });
  const bob = new ChatStore({ kv: bkv, me: me(bobSeed, 'bob', bp), api: server.api(), ackDelayMs: 0, sleep: noWait, selfCopies: false });
  return { server, ap, bp, alice, bob, akv, bkv, me };
}

/** Poll `handle`'s inbox from the store's last seq and ingest what comes back. */
export async function pull(store: ChatStore, server: FakeServer, handle: string) {
  const { messages } = await server.api().pollInbox(handle, store.lastSeq, server.pollAuth(handle, store.lastSeq));
  await store.ingest(messages);
}

/** The send queue's waits between attempts, skipped (tests record them where they matter). */
export const noWait = async (_ms: number): Promise<void> => {};

/** One macrotask: lets queued writes, 0 ms ack timers and their posts run. */
export const settle = () => new Promise((r) => setTimeout(r, 0));
