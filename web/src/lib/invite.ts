// Invite links (issue 13): `https://<server>/#/chat/<handle>` opens the
// start-chat flow for that handle. The link is built from the origin the app
// is served from (that server is the handle's home). A link opened while
// locked keeps its hash through the unlock (lastroute.ts leaves a route that
// isn't the start alone); one opened before an identity exists is held in
// memory only (never stored: it names a contact) until the user has
// registered, since creating and registering move the hash.
import { foldKez } from './handles';
import { pathFromHash } from './router.svelte';

/** A handle's local part as registered (SPEC §3): 3–32 of a-z, 0-9, `_`, `-`, starting alphanumeric. */
const HANDLE = /^[a-z0-9][a-z0-9_-]{2,31}$/;
/** A server name as it may follow `@` (a DNS name with an optional port). */
const SERVER = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$/;

/** The invite link for `handle` (local part) on the server at `origin` (`https://kez.lat`). */
export function inviteLink(origin: string, handle: string): string {
  return `${origin.replace(/\/+$/, '')}/#/chat/${encodeURIComponent(handle)}`;
}

/**
 * The KEZ an app path (`/chat/<handle>` or `/chat/<handle>@<server>`, as
 * pathFromHash gives it) invites to chat with, folded like the start-chat
 * form (a leading `@`, capitals); null when the path is no invite or the
 * handle is not a valid one.
 */
export function invitedKez(path: string): string | null {
  const seg = path.split('/').filter(Boolean);
  if (seg.length !== 2 || seg[0] !== 'chat') return null;
  const kez = foldKez(seg[1]);
  const at = kez.lastIndexOf('@');
  const handle = at === -1 ? kez : kez.slice(0, at);
  const server = at === -1 ? null : kez.slice(at + 1).toLowerCase();
  if (!HANDLE.test(handle) || (server !== null && !SERVER.test(server))) return null;
  return server === null ? handle : `${handle}@${server}`;
}

// The invite the app was opened with (or navigated to while no opener was
// mounted, e.g. on the welcome or lock screen), before anything moved the hash.
let pending: string | null = typeof location === 'undefined' ? null : invitedKez(pathFromHash(location.hash));
// Mounted openers (InviteOpener): while one is, it follows the route itself.
let openers = 0;
if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => {
    const kez = invitedKez(pathFromHash(location.hash));
    if (kez && openers === 0) pending = kez;
  });
}

/** An opener mounted: invites in the route are its own from now on. Returns the unmount. */
export function openerMounted(): () => void {
  openers++;
  return () => {
    openers--;
  };
}

/** The invite the app was opened with or last navigated to (once: it is forgotten when taken). */
export function takePendingInvite(): string | null {
  const p = pending;
  pending = null;
  return p;
}

/** The invite the app was opened with, left for the opener to take (the welcome screen names who invited). */
export function peekPendingInvite(): string | null {
  return pending;
}

/** Tests: what the app was "opened with". */
export function setPendingInvite(kez: string | null): void {
  pending = kez;
}
