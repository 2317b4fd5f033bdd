// A small hash router: `#/chats/<peer>` → path "/chats/<peer>".
function current(): string {
  const h = typeof location === 'undefined' ? '' : decodeURIComponent(location.hash.replace(/^#/, ''));
  return h.startsWith('/') ? h : '/';
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
