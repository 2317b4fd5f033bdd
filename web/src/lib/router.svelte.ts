// A small hash router: `#/chats/<peer>` → path "/chats/<peer>".

/** The path of a location hash; '/' for anything else, including bad %-escapes. */
export function pathFromHash(hash: string): string {
  let h: string;
  try {
    h = decodeURIComponent(hash.replace(/^#/, ''));
  } catch {
    // A mangled link (`#/%E0%A4%A`) must not blank the whole app.
    return '/';
  }
  return h.startsWith('/') ? h : '/';
}

function current(): string {
  return pathFromHash(typeof location === 'undefined' ? '' : location.hash);
}

export class Router {
  path = $state(current());
  segments = $derived(this.path.split('/').filter(Boolean));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => (this.path = current()));
    }
  }

  go(path: string, replace = false): void {
    const url = `#${path}`;
    if (replace) history.replaceState(history.state, '', url);
    else history.pushState(history.state, '', url);
    this.path = current();
  }

  /** The path now, read from `location` (a `hashchange` not yet dispatched included). */
  get now(): string {
    return current();
  }

  /**
   * The last step of an awaited flow (restore, sign-up, opening an invite):
   * go to `to` only while the route is still `from`, the path the flow
   * started on. The app may show a new view before the flow's last await
   * resolves, and a route the user chose meanwhile (Settings, another
   * chat) must not be taken away.
   */
  finish(from: string, to: string, replace = false): void {
    if (current() === from) this.go(to, replace);
  }
}

export const router = new Router();
