// Where the user was, so unlocking returns there instead of to the list.
// The route names a contact (`/chats/<their primary>`), so it is kept in the
// sealed KV (SPEC §8.2): a locked browser does not say who was talked to last.
import { isValidPrimary } from './identity';
import type { KV } from './kv';

/** The record's key name in the sealed KV, per identity. */
export function lastRouteKey(primary: string): string {
  return `lastroute:${primary}`;
}

/**
 * The route worth returning to after an unlock: the list (`/chats`) or one
 * thread (`/chats/<valid primary>`); null for anything else (settings,
 * restore, a mangled link), which keeps the last remembered one.
 */
export function routeToRemember(path: string): string | null {
  const seg = path.split('/').filter(Boolean);
  if (seg[0] !== 'chats' || seg.length > 2) return null;
  if (seg.length === 1) return '/chats';
  return isValidPrimary(seg[1]) ? `/chats/${seg[1]}` : null;
}

/**
 * Where to go right after an unlock: the remembered route when the user
 * lands on the start (`/`, or the list: what the lock screen leaves, and
 * where an installed app opens) and it says more; null to stay (they opened
 * a link to somewhere else, or there is nothing remembered).
 */
export function routeAfterUnlock(current: string, remembered: string | null | undefined): string | null {
  const here = current.split('/').filter(Boolean);
  const atStart = here.length === 0 || (here.length === 1 && here[0] === 'chats');
  if (!atStart || !remembered) return null;
  const to = routeToRemember(remembered);
  return to && to !== `/${here.join('/')}` ? to : null;
}

/** The remembered route of one identity, in a sealed KV. */
export class RouteMemory {
  #last: string | null = null;

  constructor(
    private readonly kv: KV,
    private readonly primary: string,
  ) {}

  /** Remember `path` if it is worth returning to (and differs from the last write). */
  async remember(path: string): Promise<void> {
    const r = routeToRemember(path);
    if (!r || r === this.#last) return;
    this.#last = r;
    await this.kv.set(lastRouteKey(this.primary), r);
  }

  /** The route last remembered, or null. */
  async recall(): Promise<string | null> {
    const r = await this.kv.get<string>(lastRouteKey(this.primary));
    return typeof r === 'string' ? r : null;
  }
}
