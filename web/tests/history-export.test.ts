// The encrypted history export file (SPEC §8.4): sealed under the seed's
// export key, refused by another identity, bounded, and merged by message id.
import { describe, expect, it } from 'vitest';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromB64url, fromHex } from '../src/lib/bytes';
import { ChatStore } from '../src/lib/chat.svelte';
import {
  EXPORT_INFO,
  HistoryFileError,
  MAX_EXPORT_BYTES,
  mergeThread,
  openHistory,
  sealHistory,
  type ExportedMessage,
  type HistoryDoc,
} from '../src/lib/history/exportfile';
import { memoryKV } from '../src/lib/kv';
import type { ChatMessage } from '../src/lib/records';
import { aliceSeed, bobSeed, pull, settle, setup } from './chat-fixture';

const id = (n: number) => `msg-${String(n).padStart(18, '0')}`;
const msg = (n: number, over: Partial<ExportedMessage> = {}): ExportedMessage => ({
  id: id(n),
  dir: 'out',
  body: `m${n}`,
  sent_at: `2026-05-25T03:00:${String(n).padStart(2, '0')}Z`,
  status: 'sent',
  ...over,
});

describe('history export file', () => {
  const primary = setup().ap;
  const doc: HistoryDoc = {
    type: 'kez.chat.history',
    version: 1,
    primary,
    exported_at: '2026-05-25T03:00:00Z',
    conversations: [{ peer_primary: setup().bp, peer_handle: 'bob@kez.test', messages: [msg(1)] }],
  };

  it('is AES-256-GCM under HKDF(seed, info kez.chat.history-export.v1) with the primary in the AAD', () => {
    const text = sealHistory(aliceSeed, doc, new Uint8Array(12).fill(7));
    const f = JSON.parse(text);
    expect(Object.keys(f)).toEqual(['kez', 'v', 'nonce', 'ct']);
    expect(text).not.toContain('m1');
    // Decrypted by hand from the SPEC's recipe, with @noble directly.
    const key = hkdf(sha256, aliceSeed, undefined, new TextEncoder().encode(EXPORT_INFO), 32);
    const plain = gcm(key, fromHex(f.nonce, 12), new TextEncoder().encode(`${EXPORT_INFO}\n${primary}`)).decrypt(fromB64url(f.ct));
    expect(JSON.parse(new TextDecoder().decode(plain))).toEqual(doc);
    expect(openHistory(aliceSeed, primary, text)).toEqual(doc);
  });

  it('refuses another identity, a damaged file, a non-file and an oversized one', () => {
    const text = sealHistory(aliceSeed, doc);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as HistoryFileError).code;
      }
      return 'accepted';
    };
    expect(code(() => openHistory(bobSeed, setup().bp, text))).toBe('wrong_identity');
    const f = JSON.parse(text);
    expect(code(() => openHistory(aliceSeed, primary, JSON.stringify({ ...f, ct: f.ct.slice(0, -2) + (f.ct.endsWith('AA') ? 'AB' : 'AA') })))).toBe('wrong_identity');
    expect(code(() => openHistory(aliceSeed, primary, '{"hello":1}'))).toBe('malformed');
    expect(code(() => openHistory(aliceSeed, primary, ' '.repeat(MAX_EXPORT_BYTES + 1)))).toBe('too_large');
    const many = { ...doc, conversations: [{ ...doc.conversations[0], messages: Array.from({ length: 100_001 }, (_, i) => msg(i % 60)) }] };
    expect(code(() => sealHistory(aliceSeed, many))).toBe('too_large');
  });

  it('merges by id: keeps what the thread has (delivered wins), adds the rest in order, unsent as failed', () => {
    const thread: ChatMessage[] = [
      { id: id(2), dir: 'out', body: 'm2 here', sent_at: '2026-05-25T03:00:02Z', status: 'sent' },
      { id: id(4), dir: 'in', body: 'm4', sent_at: '2026-05-25T03:00:04Z', status: 'received', acked: true },
    ];
    const added = mergeThread(thread, [msg(1), msg(2, { status: 'delivered', body: 'other' }), msg(3, { status: 'sending' }), msg(4, { dir: 'in', status: 'received' })]);
    expect(added).toBe(2);
    expect(thread.map((m) => [m.id, m.body, m.status])).toEqual([
      [id(1), 'm1', 'sent'],
      [id(2), 'm2 here', 'delivered'],
      [id(3), 'm3', 'failed'],
      [id(4), 'm4', 'received'],
    ]);
    expect(thread[2].retryable).toBe(false);
    // Again: nothing new.
    expect(mergeThread(thread, [msg(1), msg(3)])).toBe(0);
  });
});

describe('export on one device, import on a restored one', () => {
  it('brings back both sides the mailbox no longer holds, once', async () => {
    const { server, ap, bp, alice, bob, me } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'old from alice');
    await pull(bob, server, 'bob');
    await settle();
    await bob.send(ap, 'old from bob');
    await pull(alice, server, 'alice');
    await settle();
    const file = await alice.history.export();

    // Retention emptied alice's mailbox; a device restored from the phrase starts empty.
    server.boxes.set('alice', []);
    const restored = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0 });
    await restored.load();
    await pull(restored, server, 'alice');
    expect(restored.conversations).toHaveLength(0);
    const posts = server.posts.length;
    expect(await restored.history.import(file)).toBe(2);
    expect(restored.threads[bp].map((m) => [m.dir, m.body])).toEqual([
      ['out', 'old from alice'],
      ['in', 'old from bob'],
    ]);
    expect(restored.conversations[0]).toMatchObject({ peer_handle: 'bob@kez.test', last_preview: 'old from bob', unread: 0 });
    expect(await restored.history.import(file)).toBe(0);
    await settle();
    expect(server.posts.length).toBe(posts); // nothing acked or re-sent
    // Bob's device cannot read alice's file.
    await expect(bob.history.import(file)).rejects.toThrow(HistoryFileError);
  });
});
