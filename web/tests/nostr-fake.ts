// A test double of a few nostr relays behind one SimplePool-shaped object
// (PoolLike): publish stores and fans out, subscriptions filter by kind, #q
// and since; a relay can be taken down (publish rejects, its subscriptions
// close) and brought back. The real relay is exercised in the e2e.
import type { Event } from 'nostr-tools/pure';
import type { PoolLike } from '../src/lib/nostr/transport';

type Filter = { kinds: number[]; '#q': string[]; since: number };
type Sub = { relay: string; filter: Filter; onevent: (e: Event) => void; onclose?: (r: unknown) => void; open: boolean };

export class FakeRelays {
  readonly stored = new Map<string, Event[]>();
  readonly down = new Set<string>();
  readonly subs: Sub[] = [];
  published = 0;
  /** Relays that say OK false to every publish. */
  readonly refusing = new Set<string>();

  constructor(readonly urls: string[]) {
    for (const u of urls) this.stored.set(u, []);
  }

  matches(f: Filter, e: Event): boolean {
    return f.kinds.includes(e.kind) && e.created_at >= f.since && e.tags.some((t) => t[0] === 'q' && f['#q'].includes(t[1]));
  }

  /** Deliver `e` as if relay `url` had it (no checks: relays are not trusted). */
  inject(url: string, e: Event): void {
    this.stored.get(url)!.push(e);
    for (const s of this.subs) if (s.open && s.relay === url && this.matches(s.filter, e)) s.onevent(e);
  }

  setDown(url: string, down: boolean): void {
    if (down) {
      this.down.add(url);
      for (const s of this.subs)
        if (s.open && s.relay === url) {
          s.open = false;
          s.onclose?.(['down']);
        }
    } else this.down.delete(url);
  }

  pool(): PoolLike {
    return {
      publish: (relays, event) =>
        relays.map(async (url) => {
          await Promise.resolve();
          if (this.down.has(url)) throw new Error('connection failure');
          if (this.refusing.has(url)) throw new Error('blocked: no');
          this.published++;
          this.inject(url, event);
          return '';
        }),
      subscribe: (relays, filter, params) => {
        const mine: Sub[] = relays.map((relay) => ({ relay, filter: { ...filter }, onevent: params.onevent, onclose: params.onclose, open: true }));
        for (const s of mine) {
          this.subs.push(s);
          if (this.down.has(s.relay)) {
            s.open = false;
            queueMicrotask(() => s.onclose?.(['connection failure']));
            continue;
          }
          for (const e of [...this.stored.get(s.relay)!]) if (this.matches(s.filter, e)) s.onevent(e);
        }
        return { close: () => mine.forEach((s) => (s.open = false)) };
      },
      querySync: async (relays, filter) => {
        await Promise.resolve();
        const up = relays.filter((u) => !this.down.has(u));
        const all = up.flatMap((u) => this.stored.get(u) ?? []);
        return [...new Map(all.filter((e) => filter.kinds.includes(e.kind) && filter.authors.includes(e.pubkey)).map((e) => [e.id, e])).values()];
      },
      listConnectionStatus: () => new Map(this.urls.map((u) => [u, !this.down.has(u)])),
      destroy: () => {
        for (const s of this.subs) s.open = false;
      },
    };
  }
}
