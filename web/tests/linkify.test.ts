// Clickable links (issue 13): only http(s) URLs become links, the text is
// kept exactly, and sentence punctuation around a URL stays outside it.
import { describe, expect, it } from 'vitest';
import { linkify, MAX_LINKS, MAX_URL_LENGTH, safeHref, trimTrailing } from '../src/lib/linkify';

const links = (t: string) => linkify(t).filter((p) => p.href).map((p) => p.text);
const hrefs = (t: string) => linkify(t).flatMap((p) => (p.href ? [p.href] : []));

describe('linkify', () => {
  it('keeps the text exactly (the parts join back to it)', () => {
    for (const t of ['', 'plain', 'see https://x.org.', 'a https://a.b/c?d=e#f b http://q.r (https://x.org) z', '🙂https://x.org🙂', 'https://x.org\nhttps://y.org']) {
      expect(linkify(t).map((p) => p.text).join('')).toBe(t);
    }
  });

  it('finds http and https links', () => {
    expect(links('see https://x.org/a?b=1#c and http://example.com')).toEqual(['https://x.org/a?b=1#c', 'http://example.com']);
    expect(links('HTTPS://EXAMPLE.COM/Path')).toEqual(['HTTPS://EXAMPLE.COM/Path']);
    expect(hrefs('HTTPS://EXAMPLE.COM/Path')).toEqual(['https://example.com/Path']);
  });

  it('leaves trailing punctuation out', () => {
    expect(links('see https://x.org.')).toEqual(['https://x.org']);
    expect(links('(https://x.org)')).toEqual(['https://x.org']);
    expect(links('really? https://x.org/a?!')).toEqual(['https://x.org/a']);
    expect(links('“https://x.org/q”, then')).toEqual(['https://x.org/q']);
    expect(links('[https://x.org/a].')).toEqual(['https://x.org/a']);
    expect(links('https://x.org/a...')).toEqual(['https://x.org/a']);
    expect(links('see https://x.org/a; https://y.org/b:')).toEqual(['https://x.org/a', 'https://y.org/b']);
  });

  it('keeps brackets that belong to the URL', () => {
    expect(links('https://en.wikipedia.org/wiki/Foo_(bar)')).toEqual(['https://en.wikipedia.org/wiki/Foo_(bar)']);
    expect(links('(https://en.wikipedia.org/wiki/Foo_(bar))')).toEqual(['https://en.wikipedia.org/wiki/Foo_(bar)']);
    expect(trimTrailing('https://x.org/a)')).toBe('https://x.org/a');
  });

  it('never links other schemes', () => {
    for (const t of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
      'ftp://x.org/a',
      'blob:https://x.org/uuid',
      'x.org',
      'www.x.org',
      'mailto:a@b.c',
      'javascript://%0aalert(1)',
      'java\tscript:alert(1)',
    ]) {
      expect(hrefs(t), t).toEqual([]);
    }
  });

  it('does not take a scheme inside a word or a URL without a host', () => {
    expect(links('xhttps://x.org')).toEqual([]);
    expect(links('https://')).toEqual([]);
    expect(links('https:// x')).toEqual([]);
    expect(links('http:///path')).toEqual([]);
  });

  it('stops at quotes, angle brackets, spaces and invisible controls', () => {
    expect(links('<https://x.org/a>')).toEqual(['https://x.org/a']);
    expect(links('"https://x.org/a" onmouseover="alert(1)"')).toEqual(['https://x.org/a']);
    expect(links("https://x.org/a'onclick=alert(1)")).toEqual(['https://x.org/a']);
    expect(links('https://x.org/a\u202egnp.exe')).toEqual(['https://x.org/a']);
    expect(links('https://x.org/a\u200bb')).toEqual(['https://x.org/a']);
  });

  it('hrefs are what the URL parser made of it (no raw markup)', () => {
    expect(hrefs('https://x.org/<script>')).toEqual(['https://x.org/']);
    expect(safeHref('https://x.org/a b')).toBe('https://x.org/a%20b');
    expect(safeHref('https://exa mple.com')).toBeNull();
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('https://[::1]/')).toBe('https://[::1]/');
  });

  it('bounds the work', () => {
    const long = `https://x.org/${'a'.repeat(MAX_URL_LENGTH)}`;
    expect(links(long)).toEqual([]);
    const many = Array.from({ length: MAX_LINKS + 10 }, (_, i) => `https://x${i}.org`).join(' ');
    expect(links(many)).toHaveLength(MAX_LINKS);
    expect(linkify(many).map((p) => p.text).join('')).toBe(many);
  });

  it('leaves URLs with a user name or password as text (the host is after the @)', () => {
    const text = 'login at https://paypal.com@evil.example/ now or https://a:b@x.org/';
    expect(links(text)).toEqual([]);
    expect(safeHref('https://paypal.com@evil.example/')).toBeNull();
    expect(safeHref('https://:pw@x.org/')).toBeNull();
    expect(linkify(text).map((p) => p.text).join('')).toBe(text);
  });

  it('shows the real (punycode) host of a lookalike, internationalized host', () => {
    const [part] = linkify('https://ex\u0430mple.com/x').filter((p) => p.href);
    expect(part.href).toBe('https://xn--exmple-4nf.com/x');
    expect(part.host).toBe('xn--exmple-4nf.com');
    expect(part.text).toBe('https://ex\u0430mple.com/x');
    const [plain] = linkify('https://example.com/x').filter((p) => p.href);
    expect(plain.host).toBeUndefined();
  });
});
