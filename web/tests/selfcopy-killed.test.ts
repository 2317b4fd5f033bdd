// A tab killed between the server's accept of an original and the write of
// its self-copy to the persisted queue (SPEC §8.3, review S2/N7): the browser
// never sees the 201 and no write after it lands. At the next load, a text
// (still `sending` in its thread) and an op (still in `unposted_ops`) are
// posted again, same id (the server answers 200), and their copies go then.
import { describe, expect, it, vi } from 'vitest';
import { ChatStore, type Api, type Me } from '../src/lib/chat.svelte';
import type { KV } from '../src/lib/kv';
import { memoryKV } from '../src/lib/kv';
import { aliceSeed, bobSeed, noWait, settle } from './chat-fixture';
import { FakeServer } from './helpers';

vi.setConfig({ testTimeout: 30_000 });

async function until(cond: () => boolean, tries = 300): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await settle();
  expect(cond()).toBe(true);
}

/** alice on a KV that dies with the tab: once `kill()` ran, no write lands and nothing resolves. */
function world(killWhen: (to: string, opts: unknown) => boolean) {
  const server = new FakeServer('kez.test');
  const ap = server.add('alice', aliceSeed);
  const bp = server.add('bob', bobSeed);
  const disk = memoryKV();
  let dead = false;
  const never = new Promise<never>(() => {});
  const tabKv: KV = {
    get: (k) => (dead ? never : disk.get(k)),
    set: (k, v) => (dead ? never : disk.set(k, v)),
    del: (k) => (dead ? never : disk.del(k)),
  };
  const api: Api = server.api();
  const post = api.postMessage;
  let posts = 0;
  api.postMessage = async (to, id, envelope, opts?: unknown) => {
    posts++;
    const r = await (post as (...a: unknown[]) => ReturnType<Api['postMessage']>)(to, id, envelope, ...(opts ? [opts] : []));
    if (!dead && killWhen(to, opts)) {
      dead = true; // accepted by the server; the tab is gone before it hears so
      return never;
    }
    return r;
  };
  const me: Me = { seed: aliceSeed, handle: 'alice', primary: ap, server: 'kez.test' };
  const store = (kv: KV) => new ChatStore({ kv, me, api, ackDelayMs: 0, sleep: noWait, stallCheck: false });
  const box = (h: string) => (server.boxes.get(h) ?? []).map((m) => m.id);
  return { ap, bp, disk, tab: () => store(tabKv), reopened: () => store(disk), box, dead: () => dead, posts: () => posts };
}

describe('a tab killed between the accept and the copy’s queue write', () => {
  it('a text: still `sending` at load, posted again (200), and its copy goes', async () => {
    const w = world((to) => to !== 'alice');
    const a = w.tab();
    await a.load();
    await a.startChat('bob');
    void a.send(w.bp, 'accepted, then the tab died');
    await until(() => w.dead());
    const id = w.box('bob')[0];
    expect(w.box('alice')).toEqual([]);

    const again = w.reopened();
    await again.load();
    await until(() => w.box('alice').length === 1);
    expect(w.box('alice')).toEqual([id]);
    expect(w.box('bob')).toEqual([id]); // the re-post was a 200, not a second message
    await until(() => again.threads[w.bp][0].status === 'sent');
  });

  it('a reaction: kept in `unposted_ops` before its post, posted again at load, and its copy goes', async () => {
    const w = world((to, opts) => to !== 'alice' && (opts as { notify?: boolean } | undefined)?.notify === false);
    const a = w.tab();
    await a.load();
    await a.startChat('bob');
    await a.send(w.bp, 'react to me');
    await until(() => w.box('alice').length === 1); // the text's copy
    expect(await a.ops.react(w.bp, a.threads[w.bp][0].id, '👍')).toBe(true);
    await until(() => w.dead());
    const opId = w.box('bob')[1];
    expect(w.box('alice')).toHaveLength(1);

    const again = w.reopened();
    await again.load();
    await until(() => w.box('alice').length === 2);
    expect(w.box('alice')[1]).toBe(opId);
    expect(w.box('bob')).toHaveLength(2);
    await until(() => !w.disk.map.has(`chat:${w.ap}:unposted_ops`)); // settled: the record goes
  });
});
