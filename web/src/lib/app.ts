// The app-wide singletons (browser only).
import { idbKV } from './kv';
import { BackupReminder } from './backup.svelte';
import { PasskeyStore } from './passkey';
import { PushController } from './push.svelte';
import { browserPlatform } from './pushplatform';
import { Session } from './session.svelte';
import { browserLocks } from './tablock';

const kv = idbKV();
// One active tab per identity (Web Locks); without them, every tab is active as before.
export const session = new Session(kv, { locks: browserLocks() });
export const push = new PushController(kv, browserPlatform());
/** The recovery-phrase backup reminder (backup.ts) and the passkey records (passkey.ts), in clear per SPEC §8.2. */
export const backup = new BackupReminder(kv);
export const passkeys = new PasskeyStore(kv);
