// Display helpers for times and previews.
export function timeOfDay(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function dayLabel(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const start = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((start(now) - start(d)) / 86_400_000);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: diff < 7 ? 'long' : undefined, month: 'short', day: 'numeric', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

/** Short relative stamp for the conversation list. */
export function listStamp(iso: string, now = new Date()): string {
  if (!iso) return '';
  const label = dayLabel(iso, now);
  return label === 'Today' ? timeOfDay(iso) : label;
}

export function preview(text: string, max = 80): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/**
 * A primary split for reading aloud: `ed25519:` and its 64 hex digits in 16
 * blocks of 4, so two people can compare keys block by block on a call.
 */
export function keyBlocks(primary: string): { scheme: string; blocks: string[] } {
  const i = primary.indexOf(':');
  const hex = primary.slice(i + 1);
  return { scheme: primary.slice(0, i + 1), blocks: hex.match(/.{1,4}/g) ?? [] };
}
