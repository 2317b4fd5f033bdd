// Reading a fetched chain strictly (review item 9): JSON.parse would fold
// `1.0`, `1e0` and duplicate keys into links Rust refuses.
import { describe, expect, it } from 'vitest';
import { ChainError, SigchainError, readChain } from '../src/lib/sigchain';
import { StrictJsonError, parseStrictJson } from '../src/lib/strictjson';
import { loadJson, vectorPath } from './helpers';

const doc = loadJson(vectorPath('sigchain.json'));
const body = (links: string[]) => `{"primary":"${doc.primary}","links":[${links.join(',')}]}`;
const linkText = (i: number) => JSON.stringify(doc.chain.links[i]);

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SigchainError || e instanceof StrictJsonError) return e.code;
    if (e instanceof ChainError) return `${e.index}:${e.code}`;
    throw e;
  }
  return 'ok';
}

describe('parseStrictJson', () => {
  it('reads plain JSON like JSON.parse', () => {
    const text = ' {"a": [1, -2, true, null, "x\\u0065"], "b": {"c": 9007199254740991}} ';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it('refuses what JSON.parse would fold', () => {
    for (const [text, code] of [
      ['{"a":1.0}', 'unsafe_number'],
      ['{"a":1e0}', 'unsafe_number'],
      ['{"a":9007199254740992}', 'unsafe_number'],
      ['{"a":1,"a":2}', 'invalid_json'],
      ['{"a":"\\ud800"}', 'invalid_json'],
      ['{"a":1}x', 'invalid_json'],
      ['{"a":01}', 'invalid_json'],
      ['\ufeff{}', 'invalid_json'],
    ]) expect(codeOf(() => parseStrictJson(text)), text).toBe(code);
  });

  it('keeps a __proto__ key as data', () => {
    const v = parseStrictJson('{"__proto__":1}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
  });
});

describe('readChain', () => {
  it('reads the valid chain from its text, whitespace and escapes included', () => {
    const spaced = doc.chain.links.map((l: unknown) => JSON.stringify(l, null, 2).replace('"sigchain_link"', '"sigchain_\\u006cink"'));
    expect(readChain(doc.primary, body(spaced)).head).toBe(doc.chain.hashes[3]);
  });

  it('refuses 1.0 and duplicate keys inside a link that JSON.parse would accept', () => {
    const float = linkText(0).replace('"seq":1', '"seq":1.0');
    expect(codeOf(() => readChain(doc.primary, body([float])))).toBe('unsafe_number');
    const dup = linkText(0).replace('"kez":"sigchain_link"', '"kez":"x","kez":"sigchain_link"');
    expect(codeOf(() => readChain(doc.primary, body([dup])))).toBe('invalid_json');
    expect(codeOf(() => readChain(doc.primary, '{"links":[]}'))).toBe('invalid_body');
  });
});
