// The outgoing queue: its pure decisions, then sending through a ChatStore
// ("sending" until answered, failures and Retry, delivered is final).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/lib/api';
import { ChatStore, type ChatMessage } from '../src/lib/chat.svelte';
import { MAX_AGE_MS } from '../src/lib/envelope';
import { memoryKV } from '../src/lib/kv';
import {
  autoResendable,
  countsAsRetry,
  failure,
  isTransient,
  outgoingBody,
  resendPicks,
  RESTAMP_AFTER_MS,
  restamp,
  SENT,
  settled,
  startedFields,
} from '../src/lib/outbox';
import { rfc3339 } from '../src/lib/time';
import { aliceSeed, pull, settle, setup } from './chat-fixture';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('outbox decisions', () => {
  const out = (over: Partial<ChatMessage> = {}): ChatMessage => ({
    id: 'aaaaaaaaaaaaaaaaaaaaaa',
    dir: 'out',
    body: 'hi',
    sent_at: '2026-05-01T10:00:00Z',
    status: 'failed',
    ...over,
  });

  it('sends text without trailing whitespace, and nothing blank', () => {
    expect(outgoingBody('  hi\nthere \n\t')).toBe('  hi\nthere');
    expect(outgoingBody(' \n ')).toBeNull();
    expect(outgoingBody('')).toBeNull();
  });

  it('counts network errors, 429 and 5xx as transient, and nothing else', () => {
    for (const s of [0, 429, 500, 503, 507]) expect(isTransient(new ApiError(s, 'x', ''))).toBe(true);
    for (const s of [400, 401, 404, 409, 413, 422]) expect(isTransient(new ApiError(s, 'x', ''))).toBe(false);
    expect(isTransient(new Error('boom'))).toBe(false);
    const full = new ApiError(507, 'mailbox_full', 'full');
    expect(failure(full)).toEqual({ status: 'failed', error: full.message, retryable: true, waiting: undefined });
    expect(full.message).toMatch(/inbox is full/);
    expect(failure('odd')).toEqual({ status: 'failed', error: 'odd', retryable: false, waiting: undefined });
  });

  it('re-sends by itself only what is still "sending" at load (a failed one had its attempts: Retry)', () => {
    expect(autoResendable(out({ status: 'sending' }), true)).toBe(true);
    expect(autoResendable(out({ status: 'sending' }), false)).toBe(false);
    expect(autoResendable(out({ retryable: true }), false)).toBe(false);
    expect(autoResendable(out({ retryable: true }), true)).toBe(false);
    expect(autoResendable(out({ retryable: false }), true)).toBe(false);
    expect(autoResendable(out({ retryable: undefined }), true)).toBe(false);
    for (const status of ['sent', 'delivered'] as const) expect(autoResendable(out({ status, retryable: true }), true)).toBe(false);
    expect(autoResendable(out({ dir: 'in', status: 'received' }), true)).toBe(false);
  });

  it('picks unsent messages in thread order, skipping those being posted', () => {
    const thread = [
      out({ id: 'a', status: 'sent' }),
      out({ id: 'b', status: 'sending' }),
      out({ id: 'c', retryable: true }),
      out({ id: 'd', retryable: false }),
      out({ id: 'e', retryable: true }),
    ];
    expect(resendPicks(thread, true, () => false)).toEqual({ unsent: true, picks: ['b'] });
    expect(resendPicks(thread, true, (id) => id === 'b')).toEqual({ unsent: true, picks: [] });
    expect(resendPicks(thread, false, () => false)).toEqual({ unsent: true, picks: [] });
    // A permanent failure keeps the thread "unsent" (the Retry button is there) but isn't picked.
    expect(resendPicks([out({ retryable: false })], true, () => false)).toEqual({ unsent: true, picks: [] });
    expect(resendPicks([out({ status: 'delivered' }), out({ dir: 'in', status: 'received' })], true, () => false)).toEqual({
      unsent: false,
      picks: [],
    });
  });

  it('counts only re-send passes over a failure, and a send or Retry starts the count again', () => {
    expect(countsAsRetry(out(), 'auto')).toBe(true);
    expect(countsAsRetry(out(), 'load')).toBe(true);
    expect(countsAsRetry(out(), 'send')).toBe(false);
    expect(countsAsRetry(out({ status: 'sending' }), 'load')).toBe(false);
    expect(startedFields(out({ retries: 2, error: 'x', retryable: true }), true)).toEqual({
      status: 'sending',
      retries: 3,
      error: undefined,
      retryable: undefined,
    });
    expect(startedFields(out({ retries: 2 }), false).retries).toBe(0);
    expect(startedFields(out(), true).retries).toBe(1);
  });

  it('never downgrades delivered, whatever the POST answered', () => {
    const timeout = new ApiError(0, 'network', 'timed out');
    const failed = failure(timeout);
    expect(settled('delivered', SENT)).toBeNull();
    expect(settled('delivered', failed)).toBeNull();
    expect(settled('sending', SENT)).toEqual({ status: 'sent', error: undefined, retryable: undefined, waiting: undefined });
    expect(settled('sending', failed)).toEqual({ status: 'failed', error: timeout.message, retryable: true, waiting: undefined });
  });

  it('re-stamps only after RESTAMP_AFTER_MS, keeping the ids it had', () => {
    const m = out({ sent_at: '2026-05-01T10:00:00Z', prev_ids: ['older'] });
    const sent = Date.parse(m.sent_at);
    const ids = ['new1', 'new2'];
    const newId = () => ids.shift()!;
    expect(restamp(m, new Date(sent + RESTAMP_AFTER_MS), newId)).toBeNull();
    expect(ids).toHaveLength(2); // no id spent on a message young enough
    expect(restamp(m, new Date(sent + RESTAMP_AFTER_MS + 1000), newId)).toEqual({
      id: 'new1',
      sent_at: rfc3339(new Date(sent + RESTAMP_AFTER_MS + 1000)),
      prev_ids: ['older', m.id],
    });
    expect(restamp(out({ sent_at: 'not a time' }), new Date(), newId)).toBeNull();
    expect(RESTAMP_AFTER_MS).toBeLessThan(MAX_AGE_MS);
  });
});

describe('ChatStore sending', () => {
  it('shows "sending" until the server answers', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    const api = server.api();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = api.postMessage;
    const gated = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: { ...api, postMessage: async (...a) => (await gate, real(...a)) },
    });
    await gated.load();
    await gated.startChat('bob');
    const sending = gated.send(bp, 'wait for it');
    await settle();
    await settle();
    expect(gated.threads[bp][0].status).toBe('sending');
    expect(gated.conversations[0].last_preview).toBe('wait for it');
    release();
    await sending;
    expect(gated.threads[bp][0].status).toBe('sent');
  });

  it('marks a final failure "Not sent" and Retry sends it', async () => {
    const { server, bp, alice } = setup();
    await alice.load();
    await alice.startChat('bob');
    server.failNextPost = new ApiError(413, 'payload_too_large', 'too large');
    await alice.send(bp, 'one');
    const m = alice.threads[bp][0];
    expect(m.status).toBe('failed');
    expect(m.retryable).toBe(false);
    await alice.retry(bp, m.id);
    expect(alice.threads[bp][0].status).toBe('sent');
    expect(alice.threads[bp][0].error).toBeUndefined();
  });
});

describe('ChatStore delivered is final', () => {
  it('stays delivered when the ack beats a POST that then fails, and is not re-sent', async () => {
    const { server, bp, alice, bob } = setup();
    await bob.load();
    const api = server.api();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let posts = 0;
    // The server stores the message, but the answer never comes back (a timeout).
    const a = new ChatStore({
      kv: memoryKV(),
      me: { seed: aliceSeed, ...alice.me },
      api: {
        ...api,
        postMessage: async (...args) => {
          posts++;
          const res = await api.postMessage(...args);
          if (posts > 1) return res;
          await gate;
          throw new ApiError(0, 'network', 'The request timed out.');
        },
      },
    });
    await a.load();
    await a.startChat('bob');
    const sending = a.send(bp, 'timed out, but there');
    await vi.waitFor(() => expect(server.boxes.get('bob')).toHaveLength(1));
    await pull(bob, server, 'bob');
    for (let i = 0; i < 5; i++) await settle();
    await pull(a, server, 'alice');
    expect(a.threads[bp][0].status).toBe('delivered');

    release();
    await sending;
    expect(a.threads[bp][0]).toMatchObject({ status: 'delivered', error: undefined });
    await a.retryFailed();
    expect(a.threads[bp][0].status).toBe('delivered');
    expect(posts).toBe(1);
  });
});
