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
}

export const router = new Router();
