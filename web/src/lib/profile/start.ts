// Wiring of the profile store for the session (browser: canvas picture ops).
import type { KV } from '../kv';
import type { Me } from '../records';
import { publishPicture, revealPicture } from './canvas';
import { Profiles, type ChatView } from './profiles.svelte';

export type { Profiles };

/** Create, load (in the background) and start the profile store of an unlocked identity. */
export function startProfiles(kv: KV, me: Me, chat: ChatView, now: () => Date): Profiles {
  const p = new Profiles({ kv, ...me, chat, now, pictures: { reveal: revealPicture, publish: publishPicture } });
  void p
    .load()
    .catch((e: unknown) => console.debug('profile load failed:', (e as Error).message))
    .then(() => p.start());
  return p;
}
