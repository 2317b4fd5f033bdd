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
  exported,
  HistoryFileError,
  importNote,
  MAX_EXPORT_BYTES,
  mergeInto,
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
    expect((await restored.history.import(file)).added).toBe(2);
    expect(restored.threads[bp].map((m) => [m.dir, m.body])).toEqual([
      ['out', 'old from alice'],
      ['in', 'old from bob'],
    ]);
    expect(restored.conversations[0]).toMatchObject({ peer_handle: 'bob@kez.test', last_preview: 'old from bob', unread: 0 });
    expect((await restored.history.import(file)).added).toBe(0);
    await settle();
    expect(server.posts.length).toBe(posts); // nothing acked or re-sent
    // Bob's device cannot read alice's file.
    await expect(bob.history.import(file)).rejects.toThrow(HistoryFileError);
  });
});

describe('message operations in the export (TODO #163, SPEC §8.4 v2)', () => {
  it('carries reply_to, edits, reactions and deleted; a deleted message imports deleted, never as an empty bubble', async () => {
    const { server, ap, bp, alice, bob, me } = setup();
    await alice.load();
    await bob.load();
    await alice.startChat('bob');
    await alice.send(bp, 'first');
    await alice.send(bp, 'second');
    const [first, second] = alice.threads[bp];
    await alice.send(bp, 'a reply', first.id);
    expect(await alice.ops.edit(bp, first.id, 'first, edited')).toBe(true);
    expect(await alice.ops.react(bp, first.id, '👍')).toBe(true);
    expect(await alice.ops.remove(bp, second.id)).toBe(true);
    await settle();
    const file = await alice.history.export();
    expect(openHistory(aliceSeed, ap, file).version).toBe(2);

    server.boxes.set('alice', []);
    const restored = new ChatStore({ kv: memoryKV(), me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0 });
    await restored.load();
    expect((await restored.history.import(file)).added).toBe(3);
    const t = restored.threads[bp];
    expect(t.find((m) => m.id === first.id)).toMatchObject({ body: 'first, edited', edit: first.edit, reactions: [{ by: ap, emoji: '👍' }] });
    expect(t.find((m) => m.id === second.id)).toMatchObject({ body: '', deleted: true });
    expect(t.find((m) => m.body === 'a reply')?.reply_to).toBe(first.id);
  });

  it('reads a version 1 file: an empty body without a file was a deleted message', () => {
    const v1: HistoryDoc = {
      type: 'kez.chat.history',
      version: 1,
      primary: setup().ap,
      exported_at: '2026-05-25T03:00:00Z',
      conversations: [{ peer_primary: setup().bp, peer_handle: null, messages: [msg(1), msg(2, { body: '' })] }],
    };
    const doc = openHistory(aliceSeed, v1.primary, sealHistory(aliceSeed, v1));
    const thread: ChatMessage[] = [];
    expect(mergeThread(thread, doc.conversations[0].messages)).toBe(2);
    expect(thread.map((m) => [m.body, !!m.deleted])).toEqual([
      ['m1', false],
      ['', true],
    ]);
    // v1 has no op fields: one there makes the file malformed.
    const bad = { ...v1, conversations: [{ ...v1.conversations[0], messages: [msg(1, { deleted: true })] }] };
    expect(() => openHistory(aliceSeed, v1.primary, sealHistory(aliceSeed, bad))).toThrow(HistoryFileError);
  });

  it('merges by the ops rules: deleted is final and wipes the file, later edit and reaction win', () => {
    const by = setup().bp;
    const thread: ChatMessage[] = [
      { id: id(1), dir: 'in', body: 'a.bin', sent_at: '2026-05-25T03:00:01Z', status: 'received', attachment: { name: 'a.bin', mime: 'application/octet-stream', size: 3, sha256: '00', mode: 'inline', done: 1, chunks: 1, state: 'ready' } },
      { id: id(2), dir: 'in', body: 'old', sent_at: '2026-05-25T03:00:02Z', status: 'received', edit: { at: '2026-05-25T03:01:00Z', id: id(50) } },
    ];
    const out = mergeInto(thread, [
      msg(1, { dir: 'in', status: 'received', body: '', deleted: true }),
      msg(2, { dir: 'in', status: 'received', body: 'newer', edit: { at: '2026-05-25T03:02:00Z', id: id(51) }, reactions: [{ by, emoji: '😂', at: '2026-05-25T03:02:00Z', id: id(52) }] }),
    ]);
    expect(out).toEqual({ added: 0, updated: 2, wiped: [{ dir: 'in', id: id(1) }] });
    expect(thread[0]).toMatchObject({ body: '', deleted: true });
    expect(thread[0].attachment).toBeUndefined();
    expect(thread[1]).toMatchObject({ body: 'newer', reactions: [{ emoji: '😂' }] });
    // An older edit does not come back; nothing undeletes.
    mergeInto(thread, [msg(2, { dir: 'in', status: 'received', body: 'older', edit: { at: '2026-05-25T03:00:30Z', id: id(53) } }), msg(1, { dir: 'in', status: 'received', body: 'x' })]);
    expect(thread.map((m) => m.body)).toEqual(['', 'newer']);
    // A v2 deleted message with a body is malformed.
    const v2: HistoryDoc = { type: 'kez.chat.history', version: 2, primary: setup().ap, exported_at: '2026-05-25T03:00:00Z', conversations: [{ peer_primary: by, peer_handle: null, messages: [msg(1, { deleted: true })] }] };
    expect(() => openHistory(aliceSeed, v2.primary, sealHistory(aliceSeed, v2))).toThrow(HistoryFileError);
  });

  it('leaves out an op field no longer valid here (a legacy reaction), not the whole file; one reaction per sender', () => {
    const { ap, bp } = setup();
    const at = '2026-05-25T03:01:00Z';
    // Accepted when it was stored (validEmoji was looser before), refused by today's rule.
    const legacy = { by: bp, emoji: 'LOL', at, id: id(60) };
    const v2: HistoryDoc = {
      type: 'kez.chat.history',
      version: 2,
      primary: ap,
      exported_at: '2026-05-25T03:00:00Z',
      conversations: [
        {
          peer_primary: bp,
          peer_handle: null,
          messages: [
            msg(1, { reactions: [legacy, { by: ap, emoji: '👍', at, id: id(61) }] }),
            msg(2, { edit: { at: 'yesterday', id: id(62) }, reply_to: 'not an id' }),
            // Two from one sender (a hand-made or damaged file): the later stands.
            msg(3, { reactions: [{ by: bp, emoji: '😂', at: '2026-05-25T03:02:00Z', id: id(63) }, { by: bp, emoji: '👍', at, id: id(64) }] }),
          ],
        },
      ],
    };
    const doc = openHistory(aliceSeed, ap, sealHistory(aliceSeed, v2));
    const [m1, m2, m3] = doc.conversations[0].messages;
    expect(m1.reactions).toEqual([{ by: ap, emoji: '👍', at, id: id(61) }]);
    expect([m2.body, m2.edit, m2.reply_to]).toEqual(['m2', undefined, undefined]);
    expect(m3.reactions?.map((r) => r.emoji)).toEqual(['😂']);
    // The exporter writes only what today's import takes.
    const stored: ChatMessage = { id: id(1), dir: 'in', body: 'x', sent_at: '2026-05-25T03:00:01Z', status: 'received', reactions: [legacy] };
    expect(exported(stored).reactions).toBeUndefined();
    expect(exported({ ...stored, reactions: [legacy, { ...legacy, emoji: '👍', id: id(65) }] }).reactions).toEqual([{ ...legacy, emoji: '👍', id: id(65) }]);
  });

  it('an imported deletion wipes the file bytes only once the thread saying so is saved', async () => {
    const { server, ap, bp, me } = setup();
    const kv = memoryKV();
    const files = memoryKV();
    const alice = new ChatStore({ kv, files, me: me(aliceSeed, 'alice', ap), api: server.api(), ackDelayMs: 0, selfCopies: false, stallCheck: false });
    await alice.load();
    await alice.startChat('bob');
    await alice.files.send(bp, 'a.txt', 'text/plain', new Uint8Array([1, 2, 3]));
    await alice.files.idle(bp);
    const m = alice.threads[bp][0];
    expect(m.attachment?.mode).toBe('inline');
    // What the stored thread says of the message at each wipe of stored bytes.
    const storedAtWipe: unknown[] = [];
    const del = files.del.bind(files);
    files.del = async (k) => {
      storedAtWipe.push((await kv.get<ChatMessage[]>(`chat:${ap}:msgs:${bp}`))?.find((x) => x.id === m.id)?.deleted);
      return del(k);
    };
    const doc: HistoryDoc = {
      type: 'kez.chat.history',
      version: 2,
      primary: ap,
      exported_at: '2026-05-25T03:00:00Z',
      conversations: [{ peer_primary: bp, peer_handle: 'bob@kez.test', messages: [{ id: m.id, dir: 'out', body: '', sent_at: m.sent_at, status: 'sent', deleted: true }] }],
    };
    expect((await alice.history.import(sealHistory(aliceSeed, doc))).added).toBe(0);
    expect(storedAtWipe.length).toBeGreaterThan(0);
    expect(storedAtWipe.every((d) => d === true)).toBe(true);
    await alice.close();
  });
});

describe('importNote', () => {
  it('says why nothing was added instead of "0 messages added"', () => {
    expect(importNote({ added: 0, updated: 0, inFile: 12 })).toBe('Nothing new: all 12 messages in it were already on this device.');
    expect(importNote({ added: 0, updated: 0, inFile: 1 })).toBe('Nothing new: its 1 message was already on this device.');
    expect(importNote({ added: 0, updated: 2, inFile: 5 })).toBe('Nothing new: all 5 messages in it were already on this device. 2 messages updated (edits, reactions or deletions).');
    expect(importNote({ added: 0, updated: 0, inFile: 0 })).toBe('The file holds no messages.');
    expect(importNote({ added: 1, updated: 0, inFile: 3 })).toBe('1 message added (3 in the file).');
  });
});
