import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeValue, TributaryError } from '../../../shared/errors.ts';
import { looksLikePan, maskPans, PAN_MAX_DIGITS, PAN_MIN_DIGITS } from '../../../shared/pan.ts';

function luhnCheckDigit(body: string): string {
  for (let d = 0; d <= 9; d++) {
    const candidate = `${body}${d}`;
    let sum = 0;
    for (let i = 0; i < candidate.length; i++) {
      let digit = Number(candidate[candidate.length - 1 - i]);
      if (i % 2 === 1) {
        digit *= 2;
        if (digit > 9) digit -= 9;
      }
      sum += digit;
    }
    if (sum % 10 === 0) return String(d);
  }
  throw new Error('unreachable');
}

/** A Luhn-valid PAN of 12-19 digits, starting with a non-zero digit. */
const panArb = fc
  .tuple(
    fc.integer({ min: 1, max: 9 }),
    fc.array(fc.integer({ min: 0, max: 9 }), {
      minLength: PAN_MIN_DIGITS - 2,
      maxLength: PAN_MAX_DIGITS - 2,
    }),
  )
  .map(([first, rest]) => {
    const body = `${first}${rest.join('')}`;
    return `${body}${luhnCheckDigit(body)}`;
  });

/** The PAN written with optional single spaces or dashes between digits. */
const writtenPanArb = panArb.chain((pan) =>
  fc
    .array(fc.constantFrom('', '', '', ' ', '-'), { minLength: pan.length - 1, maxLength: pan.length - 1 })
    .map((seps) => [...pan].map((d, i) => d + (seps[i] ?? '')).join('')),
);

/** Text that cannot touch a digit run: letters, punctuation, quotes. */
const fillerArb = fc.string({
  unit: fc.constantFrom('a', 'Z', '"', ':', '(', '_', '\n', 'é', '/'),
  maxLength: 20,
});

function digitsOf(text: string): string {
  return text.replace(/[^0-9]/g, '');
}

describe('card number masking', () => {
  it('masks any PAN in any text to at most its first six and last four digits', () => {
    fc.assert(
      fc.property(fillerArb, writtenPanArb, fillerArb, (before, pan, after) => {
        const masked = maskPans(`${before}${pan}${after}`);
        expect(masked.length).toBe(before.length + pan.length + after.length);
        expect(masked.startsWith(before)).toBe(true);
        expect(masked.endsWith(after)).toBe(true);
        const shown = digitsOf(masked);
        const digits = digitsOf(pan);
        expect(shown.length).toBeLessThanOrEqual(digits.length >= 16 ? 10 : 4);
        expect(shown.endsWith(digits.slice(-4))).toBe(true);
        expect(looksLikePan(masked.slice(before.length, before.length + pan.length))).toBe(false);
      }),
    );
  });

  it('leaves text without a PAN unchanged and is idempotent', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const once = maskPans(text);
        expect(maskPans(once)).toBe(once);
        if (!/[0-9](?:[ -]?[0-9]){11}/.test(text)) expect(once).toBe(text);
      }),
    );
    // Sequence numbers and hash keys (more than 19 digits, no separators) stay readable.
    const sequence = '49590338271490256608559692538361571095921575989136588898';
    expect(maskPans(`at ${sequence}`)).toBe(`at ${sequence}`);
  });

  it('finds a PAN among neighbouring digit groups', () => {
    expect(maskPans('card 4111 1111 1111 1111 2024')).toBe('card 4111 11** **** 1111 2024');
    expect(maskPans('got "4111111111111111"')).toBe('got "411111******1111"');
    expect(maskPans('tok_378282246310005')).toBe('tok_***********0005');
  });

  it('masks every TributaryError message', () => {
    expect(new TributaryError('X', 'bad 4111-1111-1111-1111').message).toBe('bad 4111-11**-****-1111');
  });
});

describe('describeValue', () => {
  it('quotes short scalars and describes anything else by type and size', () => {
    expect(describeValue('short')).toBe('"short"');
    expect(describeValue(42)).toBe('42');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1, 2, 3])).toBe('array of 3 items');
    expect(describeValue({ a: 1 })).toBe('object with 1 key');
    expect(describeValue(new Array(1_048_576).fill({}))).toBe('array of 1,048,576 items');
    const long = 'a'.repeat(8 * 1024 * 1024);
    expect(describeValue(long)).toBe(`string of 8,388,608 characters starting "${'a'.repeat(32)}…"`);
  });

  it('stays short for any value and never shows a whole card number', () => {
    fc.assert(
      fc.property(fc.anything(), writtenPanArb, (value, pan) => {
        expect(describeValue(value).length).toBeLessThanOrEqual(120);
        expect(digitsOf(describeValue(pan))).not.toBe(digitsOf(pan));
        expect(digitsOf(describeValue(`${'x'.repeat(20)}${pan}${'y'.repeat(80)}`))).not.toContain(
          digitsOf(pan),
        );
      }),
    );
  });
});
