// Recovery-phrase backup (issue 13): whether the user has backed up the 24
// words, per identity, and the small text file they may download.
//
// Stored in clear under `backup:<primary>` (SPEC §8.2's cleartext list): only
// a flag and two dates, nothing secret, so the lock screen and chat list can
// read it. An identity with no record (created before this existed, or
// restored from its phrase, which proves a backup) is treated as backed up.
import type { KV } from './kv';

export const BACKUP_PREFIX = 'backup:';

/** `pending`: the user chose "Later" and has not backed up since. */
export interface BackupRecord {
  v: 1;
  pending: boolean;
  /** ISO 8601: when "Later" was chosen. */
  deferred_at?: string;
  /** ISO 8601: when the quiz passed or "I saved it" was confirmed. */
  done_at?: string;
  /** How the backup was confirmed (`restore`: the phrase was typed in to restore this identity). */
  how?: 'quiz' | 'saved' | 'restore';
}

const key = (primary: string) => `${BACKUP_PREFIX}${primary}`;

/** Read/write of the per-identity backup flag. */
export class BackupStore {
  constructor(private readonly kv: KV) {}

  /** True when the identity's phrase still needs a backup (only after "Later"). */
  async isPending(primary: string): Promise<boolean> {
    const rec = await this.kv.get<BackupRecord>(key(primary));
    return rec?.v === 1 && rec.pending === true;
  }

  /** "Later": remember to remind the user. */
  defer(primary: string, now = new Date()): Promise<void> {
    return this.kv.set(key(primary), { v: 1, pending: true, deferred_at: now.toISOString() } satisfies BackupRecord);
  }

  /** The quiz passed or "I saved it" was confirmed: the reminder stops. */
  async done(primary: string, how: 'quiz' | 'saved' | 'restore', now = new Date()): Promise<void> {
    const prev = await this.kv.get<BackupRecord>(key(primary));
    const rec: BackupRecord = { v: 1, pending: false, done_at: now.toISOString(), how };
    if (prev?.deferred_at) rec.deferred_at = prev.deferred_at;
    await this.kv.set(key(primary), rec);
  }

  /** Forget the flag (the identity is forgotten on this device). */
  forget(primary: string): Promise<void> {
    return this.kv.del(key(primary));
  }
}

/**
 * The download's file name: `kez-recovery-<handle>.txt`, or the first 8 hex
 * digits of the primary before a handle is registered (sign-up picks the
 * handle after the phrase). Only `[a-z0-9_-]` reach the name.
 */
export function backupFileName(handle: string | null, primary: string | null): string {
  const who = handle ?? (primary ? primary.replace(/^ed25519:/, '').slice(0, 8) : 'identity');
  return `kez-recovery-${who.toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'identity'}.txt`;
}

/** The file's text: one line saying what it is, then the 24 words. Nothing else. */
export function backupFileText(phrase: string): string {
  const words = phrase.trim().split(/\s+/);
  return `kez-chat recovery phrase (24 words): anyone who has it can be you; keep it offline and private.\n${words.join(' ')}\n`;
}

/** Offer `text` as a download named `name` (a Blob URL, revoked right after). */
export function downloadText(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
