import { describe, expect, it } from 'vitest';
import { jcs, UnsafeNumberError } from '../src/lib/jcs';

describe('jcs', () => {
  it('sorts keys by UTF-16 code units and escapes minimally', () => {
    expect(jcs({ b: 1, a: [true, null, 'x'], '€': 1, '\u0080': 2, '\ud83d\ude00': 3, '\ufb33': 4 })).toBe(
      '{"a":[true,null,"x"],"b":1,"\u0080":2,"€":1,"\ud83d\ude00":3,"\ufb33":4}',
    );
    expect(jcs({ s: '\u0000\u001f"\\\n/é' })).toBe('{"s":"\\u0000\\u001f\\"\\\\\\n/é"}');
  });

  it('rejects unsafe numbers', () => {
    expect(() => jcs({ n: 1.5 })).toThrow(UnsafeNumberError);
    expect(() => jcs({ n: 2 ** 53 })).toThrow(UnsafeNumberError);
    expect(jcs({ n: -(2 ** 53 - 1) })).toBe('{"n":-9007199254740991}');
  });
});
