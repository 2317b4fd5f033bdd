// Characters forbidden in names people read (file names SPEC §13, display
// names SPEC §14.1): bidi controls and invisible characters. They change how
// the text around them reads without being seen ("invoice\u202Efdp.exe"
// shows as "invoiceexe.pdf"). ZWNJ/ZWJ (U+200C/U+200D) stay: Persian and
// emoji sequences need them and they reorder nothing. Same set as
// kez-core `text::is_spoofing_char`.

/** One bidi control or invisible character (global: use with replace). */
export const SPOOF_RE = /[\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/gu;

/** Whether `s` holds any character of SPOOF_RE. */
export function hasSpoofChar(s: string): boolean {
  return s.replace(SPOOF_RE, '') !== s;
}

/** `s` without them. */
export function stripSpoofChars(s: string): string {
  return s.replace(SPOOF_RE, '');
}
