// The InboxConnection under test with recording deps: a fake EventSource
// (tests/helpers.ts), polls answered from `polled` in turn (an Error is thrown).
import { InboxConnection, type LiveStatus } from '../src/lib/inbox';
import type { InboxItem } from '../src/lib/api';

import { FakeEventSource as FakeES } from './helpers';

export function makeInbox(seqRef: { v: number }, polled: (InboxItem[] | Error)[] = []) {
  const statuses: LiveStatus[] = [];
  const errors: unknown[] = [];
  const got: InboxItem[] = [];
  let n = 0;
  const polls: number[] = [];
  const conn = new InboxConnection({
    streamUrl: (since) => `/stream?auth=${++n}&since=${since}`,
    poll: async (since) => {
      polls.push(since);
      const next = polled.shift() ?? [];
      if (next instanceof Error) throw next;
      const messages = next;
      return { messages, next: messages.length ? messages[messages.length - 1].seq : null };
    },
    lastSeq: () => seqRef.v,
    rewind: () => void (seqRef.v = 0),
    onItems: (items) => {
      got.push(...items);
      seqRef.v = Math.max(seqRef.v, ...items.map((i) => i.seq));
    },
    onStatus: (s) => statuses.push(s),
    onError: (e) => errors.push(e),
    EventSource: FakeES as unknown as typeof EventSource,
    batchMs: 0,
  });
  return { conn, statuses, got, polls, errors };
}
