// @vitest-environment happy-dom
// A visitor who opened an invite link is told who invited them before signing up (new-user trial, session 8).
import { flushSync, mount, tick, unmount } from 'svelte';
import { afterEach, describe, expect, it } from 'vitest';
import Welcome from '../src/routes/Welcome.svelte';
import { setPendingInvite, takePendingInvite } from '../src/lib/invite';

describe('Welcome', () => {
  let app: Record<string, unknown> | null = null;
  afterEach(() => {
    if (app) unmount(app);
    app = null;
    document.body.innerHTML = '';
    setPendingInvite(null);
  });

  async function show() {
    app = mount(Welcome, { target: document.body });
    await tick();
    flushSync();
    return document.querySelector('[data-testid="invited-by"]');
  }

  it('names who invited, and leaves the invite for the chat to start after sign-up', async () => {
    setPendingInvite('alice@kez.test');
    const said = await show();
    expect(said?.textContent).toContain('alice@kez.test invited you to chat');
    expect(takePendingInvite()).toBe('alice@kez.test');
  });

  it('says nothing of an invite without one', async () => {
    expect(await show()).toBeNull();
  });
});
