// What to publish where for a linked account (SPEC §15.1, §15.4): the name checked as typed, the
// proof place, a pasted gist address, the TXT record's strings. Re-exported by lib/claims.ts.
import { jcs } from './jcs';
import type { Service, SignedProof } from './sigchain';

/** The name typed for `service`, as the claim will carry it, and what is wrong with it (null when fine). */
export function nameProblem(service: Service, raw: string): { name: string; problem: string | null } {
  const t = raw.trim();
  if (service === 'github') {
    const name = t.replace(/^@/, '');
    if (!name) return { name, problem: 'Type your GitHub username.' };
    if (!/^[A-Za-z0-9-]{1,39}$/.test(name)) return { name, problem: 'GitHub usernames are up to 39 letters, digits or hyphens.' };
    if (name.startsWith('-') || name.endsWith('-') || name.includes('--')) return { name, problem: 'A GitHub username can’t start or end with a hyphen or have two in a row.' };
    return { name, problem: null };
  }
  const name = t.toLowerCase().replace(/\.$/, '');
  if (!name) return { name, problem: 'Type a host name like example.com.' };
  if (/^[a-z]+:\/\//.test(name) || name.includes('/')) return { name, problem: 'Type just the host name, like example.com, without https:// or a path.' };
  if (/[^\x00-\x7f]/.test(name)) return { name, problem: 'Type international names in their punycode form (xn--…).' };
  if (!name.includes('.')) return { name, problem: 'A host name has at least one dot, like example.com.' };
  if (name.length > 253) return { name, problem: 'That host name is too long.' };
  // `_kez.<name>` must itself fit DNS's 253 characters, or the record can't exist (SPEC §15.5).
  if (service === 'dns' && name.length > 248) return { name, problem: 'That domain name is too long for a DNS proof: _kez. in front of it would pass 253 characters.' };
  const labels = name.split('.');
  if (labels.some((l) => !/^[a-z0-9-]{1,63}$/.test(l) || l.startsWith('-') || l.endsWith('-')))
    return { name, problem: 'Each part of the name is 1–63 letters, digits or hyphens, not starting or ending with a hyphen.' };
  if (!/^[a-z]/.test(labels[labels.length - 1])) return { name, problem: 'That looks like an IP address; claim a host name instead.' };
  return { name, problem: null };
}

/** The proof place of a website or DNS claim (SPEC §15.1); GitHub's needs the gist, see {@link gistProof}. */
export function fixedProof(service: 'https' | 'dns', name: string): string {
  return service === 'https' ? `https://${name}/.well-known/kez-proof.txt` : `dns:_kez.${name}`;
}

/**
 * The claim's proof for a pasted gist address (`https://gist.github.com/<user>/<id>`, with or
 * without the user, or the bare id), written under the claimed `login`; or why it can't be.
 */
export function gistProof(login: string, input: string): { proof: string } | { problem: string } {
  const t = input.trim();
  let id: string | undefined;
  if (/^[0-9a-f]{20,32}$/i.test(t)) id = t;
  else {
    const m = /^(?:https?:\/\/)?gist\.github\.com\/(?:([A-Za-z0-9-]{1,39})\/)?([0-9a-fA-F]+)\/?(?:[?#].*)?$/.exec(t);
    if (!m) return { problem: 'Paste the gist’s address, like https://gist.github.com/' + (login || 'you') + '/1234abcd….' };
    if (m[1] && m[1].toLowerCase() !== login.toLowerCase()) return { problem: `That gist’s address names ${m[1]}, not ${login}. Create the gist while signed in as ${login}.` };
    id = m[2];
  }
  if (!/^[0-9a-f]{20,32}$/i.test(id)) return { problem: 'That doesn’t look like a gist address: the last part should be 20–32 hexadecimal characters.' };
  return { proof: `https://gist.github.com/${login}/${id.toLowerCase()}` };
}

/** A TXT record's character-strings: ≤ 255 bytes each, joined without separators by the checker (SPEC §15.4). */
export function txtStrings(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let bytes = 0;
  const enc = new TextEncoder();
  for (const ch of text) {
    const n = enc.encode(ch).length;
    if (bytes + n > 255) {
      out.push(cur);
      cur = '';
      bytes = 0;
    }
    cur += ch;
    bytes += n;
  }
  if (cur || out.length === 0) out.push(cur);
  return out;
}

/** The record as a zone-file line: each string quoted, `"` and `\` escaped. */
export function txtZoneLine(name: string, text: string): string {
  const quoted = txtStrings(text).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
  return `_kez.${name}. 300 IN TXT ${quoted.join(' ')}`;
}

/** What to publish where for a claim on `service` with `name`, given the signed statement. */
export type Placement =
  | { service: 'github'; file: string; content: string; createUrl: string }
  | { service: 'https'; url: string; content: string }
  | { service: 'dns'; record: string; content: string; strings: string[]; zone: string };

export const GIST_FILE = 'kez-proof.json';

export function placement(service: Service, name: string, statement: SignedProof): Placement {
  const content = jcs(statement);
  if (service === 'github') return { service, file: GIST_FILE, content, createUrl: 'https://gist.github.com/' };
  if (service === 'https') return { service, url: fixedProof('https', name), content };
  return { service, record: `_kez.${name}`, content, strings: txtStrings(content), zone: txtZoneLine(name, content) };
}

