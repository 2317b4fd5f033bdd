// The app-wide singletons (browser only).
import { idbKV } from './kv';
import { Session } from './session.svelte';

export const session = new Session(idbKV());
