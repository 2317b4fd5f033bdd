// The app-wide singletons (browser only).
import { idbKV } from './kv';
import { browserPlatform, PushController } from './push.svelte';
import { Session } from './session.svelte';

const kv = idbKV();
export const session = new Session(kv);
export const push = new PushController(kv, browserPlatform());
