/**
 * A bounded, streaming JSON scanner over bytes: the guard in front of JSON.parse for input nobody
 * vouches for (the agent's API bodies, the CLI's files). It checks the grammar, strict UTF-8 and the
 * limits (nesting depth, values per document, bytes per string or number) as bytes arrive, chunk by
 * chunk, and allocates nothing per value, so a hostile body (a 3 MB array of `{}`, a million nested
 * arrays, an 8 MB array under an unknown key) is refused after at most `maxValues` values and
 * `maxDepth` levels instead of being materialised. A document it accepts is valid UTF-8 JSON within
 * the limits, which JSON.parse then turns into the same value it always would.
 *
 * Framing: `single` is one JSON text (whitespace around it); `lines` is NDJSON, one JSON text per
 * line, blank lines skipped.
 */
import { RecordDecodeError, RecordTooComplexError } from './errors.ts';

export interface JsonLimits {
  /** Containers nested inside each other: `[[1]]` has depth 2, a scalar 0. */
  readonly maxDepth: number;
  /** Values per document, containers included (`{"a":[1]}` has 3); object keys are not values. */
  readonly maxValues: number;
  /** Bytes of one string (key or value, between its quotes, escapes as written) or number literal. */
  readonly maxStringBytes: number;
}

export type JsonFraming = 'single' | 'lines';

export interface JsonScanOptions {
  readonly framing: JsonFraming;
  /** Every document must be a JSON object; `hint` is added to the error for anything else. */
  readonly objectsOnly?: { readonly hint?: string };
}

/** Called with the byte range [start, end) of each complete document, offsets from the first byte written. */
export type OnDocument = (start: number, end: number) => void;

// Parser states.
const DOC = 0; // before a document's value
const VALUE = 1; // a value must follow (after ':' or an array's ',')
const ARRAY_FIRST = 2; // after '[': a value or ']'
const OBJECT_FIRST = 3; // after '{': a key or '}'
const KEY = 4; // after an object's ',': a key
const COLON = 5;
const AFTER = 6; // after a value inside a container: ',' or the closer
const DOC_END = 7; // after a document's value
const STRING = 8;
const ESCAPE = 9;
const UNICODE = 10; // inside \uXXXX
const UTF8 = 11; // inside a multi-byte UTF-8 sequence
const NUMBER = 12;
const LITERAL = 13;

// Number sub-states; the ones marked "may end" can be followed by a delimiter.
const N_MINUS = 0;
const N_ZERO = 1; // may end
const N_INT = 2; // may end
const N_DOT = 3;
const N_FRAC = 4; // may end
const N_E = 5;
const N_E_SIGN = 6;
const N_EXP = 7; // may end

const ARRAY = 0;
const OBJECT = 1;

const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')] as const;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a;
}

/** Whether bytes[start, end) is an NDJSON blank line: JSON whitespace only (the newline itself excluded). */
export function isBlankLine(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  for (let i = start; i < end; i++) {
    const byte = bytes[i];
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  }
  return true;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function isHex(byte: number): boolean {
  return isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

function describeByte(byte: number): string {
  return byte >= 0x21 && byte <= 0x7e
    ? JSON.stringify(String.fromCharCode(byte))
    : `byte 0x${byte.toString(16).padStart(2, '0').toUpperCase()}`;
}

function kindOf(byte: number): string {
  if (byte === 0x5b) return 'an array';
  if (byte === 0x22) return 'a string';
  if (byte === 0x74 || byte === 0x66) return 'a boolean';
  if (byte === 0x6e) return 'null';
  return 'a number';
}

export class JsonScanner {
  readonly #limits: JsonLimits;
  readonly #lines: boolean;
  readonly #objectsOnly: { readonly hint?: string } | undefined;
  /** Container kinds, innermost last; never longer than maxDepth. */
  readonly #stack: Uint8Array;
  #depth = 0;
  #state = DOC;
  /** Offset of the first byte of the chunk being scanned. */
  #base = 0;
  #docStart = 0;
  #values = 0;
  #documents = 0;
  // String, number and literal progress.
  #inKey = false;
  #tokenBytes = 0;
  #unicodeDigits = 0;
  #utf8Needed = 0;
  #utf8Low = 0x80;
  #utf8High = 0xbf;
  #utf8Start = 0;
  #numberState = N_MINUS;
  #literal: Uint8Array = LITERALS[0];
  #literalIndex = 0;
  #onDocument: OnDocument = () => {};

  constructor(limits: JsonLimits, options: JsonScanOptions) {
    this.#limits = limits;
    this.#lines = options.framing === 'lines';
    this.#objectsOnly = options.objectsOnly;
    this.#stack = new Uint8Array(Math.max(1, limits.maxDepth));
  }

  /** Documents completed so far (the index of the one being scanned, in NDJSON). */
  get documents(): number {
    return this.#documents;
  }

  /** Bytes scanned so far. */
  get offset(): number {
    return this.#base;
  }

  /** Scans the next chunk; throws RecordDecodeError or RecordTooComplexError at the first fault. */
  write(chunk: Uint8Array, onDocument: OnDocument): void {
    this.#onDocument = onDocument;
    const length = chunk.length;
    for (let i = 0; i < length; i++) {
      const byte = chunk[i] as number;
      switch (this.#state) {
        case STRING: {
          // The hot loop: plain ASCII string content.
          let j = i;
          while (j < length) {
            const b = chunk[j] as number;
            if (b < 0x20 || b === 0x22 || b === 0x5c || b >= 0x80) break;
            j++;
          }
          this.#countToken(j - i, this.#base + i);
          i = j;
          if (i === length) break;
          this.#stringByte(chunk[i] as number, this.#base + i);
          break;
        }
        case ESCAPE:
        case UNICODE:
        case UTF8:
          this.#stringByte(byte, this.#base + i);
          break;
        case NUMBER:
          if (!this.#numberByte(byte, this.#base + i)) {
            this.#valueEnded(this.#base + i);
            i--; // the delimiter is scanned again in the new state
          }
          break;
        case LITERAL:
          if (byte !== this.#literal[this.#literalIndex]) throw this.#unexpected(byte, this.#base + i);
          if (++this.#literalIndex === this.#literal.length) this.#valueEnded(this.#base + i + 1);
          break;
        default:
          this.#structural(byte, this.#base + i);
      }
    }
    this.#base += length;
  }

  /** The input is complete: a document still open is an error (in `single`, so is no document). */
  end(onDocument: OnDocument): void {
    this.#onDocument = onDocument;
    const at = this.#base;
    if (this.#state === NUMBER) {
      if (!this.#numberMayEnd())
        throw new RecordDecodeError(`the input ends inside a number at byte ${at}`, { offset: at });
      this.#valueEnded(at);
    }
    if (this.#state === DOC_END) return;
    if (this.#state === DOC) {
      if (!this.#lines && this.#documents === 0)
        throw new RecordDecodeError('the input holds no JSON value', { offset: at });
      return;
    }
    throw new RecordDecodeError(`the input ends inside a JSON value at byte ${at}`, { offset: at });
  }

  #unexpected(byte: number, at: number): RecordDecodeError {
    if (byte >= 0x80)
      return new RecordDecodeError(`invalid UTF-8 or unexpected ${describeByte(byte)} at byte ${at}`, {
        offset: at,
      });
    if (byte === 0x0a && this.#lines)
      return new RecordDecodeError(`the line ends inside a JSON value at byte ${at}`, { offset: at });
    return new RecordDecodeError(`unexpected ${describeByte(byte)} at byte ${at}`, { offset: at });
  }

  /** `bytes` more of the current string or number, the first of them at `at`. */
  #countToken(bytes: number, at: number): void {
    const max = this.#limits.maxStringBytes;
    this.#tokenBytes += bytes;
    if (this.#tokenBytes > max)
      throw new RecordTooComplexError('string', max, at + bytes - (this.#tokenBytes - max));
  }

  /** A value begins at `at`: counted against the limits. */
  #beginValue(at: number): void {
    if (this.#depth === 0) {
      this.#docStart = at;
      this.#values = 0;
    }
    if (++this.#values > this.#limits.maxValues)
      throw new RecordTooComplexError('values', this.#limits.maxValues, at);
  }

  #structural(byte: number, at: number): void {
    const state = this.#state;
    if (isSpace(byte)) {
      if (byte === 0x0a && this.#lines) {
        if (state === DOC_END) this.#state = DOC;
        else if (state !== DOC) throw this.#unexpected(byte, at);
      }
      return;
    }
    switch (state) {
      case DOC:
        if (
          this.#objectsOnly !== undefined &&
          byte !== 0x7b &&
          (byte === 0x5b ||
            byte === 0x22 ||
            byte === 0x2d ||
            isDigit(byte) ||
            byte === 0x74 ||
            byte === 0x66 ||
            byte === 0x6e)
        ) {
          const hint = this.#objectsOnly.hint === undefined ? '' : `; ${this.#objectsOnly.hint}`;
          throw new RecordDecodeError(`expected a JSON object, got ${kindOf(byte)} at byte ${at}${hint}`, {
            offset: at,
          });
        }
        this.#value(byte, at);
        return;
      case VALUE:
        this.#value(byte, at);
        return;
      case ARRAY_FIRST:
        if (byte === 0x5d) this.#close(at);
        else this.#value(byte, at);
        return;
      case OBJECT_FIRST:
        if (byte === 0x7d) {
          this.#close(at);
          return;
        }
        this.#key(byte, at);
        return;
      case KEY:
        this.#key(byte, at);
        return;
      case COLON:
        if (byte !== 0x3a) throw this.#unexpected(byte, at);
        this.#state = VALUE;
        return;
      case AFTER: {
        const kind = this.#stack[this.#depth - 1];
        if (byte === 0x2c) this.#state = kind === OBJECT ? KEY : VALUE;
        else if ((byte === 0x5d && kind === ARRAY) || (byte === 0x7d && kind === OBJECT)) this.#close(at);
        else throw this.#unexpected(byte, at);
        return;
      }
      default:
        // DOC_END: only whitespace may follow a document on its line or in the input.
        throw new RecordDecodeError(
          `unexpected ${describeByte(byte)} after the JSON value at byte ${at}${this.#lines ? ' (one value per line)' : ''}`,
          { offset: at },
        );
    }
  }

  #key(byte: number, at: number): void {
    if (byte !== 0x22) throw this.#unexpected(byte, at);
    this.#inKey = true;
    this.#tokenBytes = 0;
    this.#state = STRING;
  }

  #value(byte: number, at: number): void {
    this.#beginValue(at);
    if (byte === 0x7b || byte === 0x5b) {
      if (this.#depth >= this.#limits.maxDepth)
        throw new RecordTooComplexError('depth', this.#limits.maxDepth, at);
      this.#stack[this.#depth++] = byte === 0x7b ? OBJECT : ARRAY;
      this.#state = byte === 0x7b ? OBJECT_FIRST : ARRAY_FIRST;
    } else if (byte === 0x22) {
      this.#inKey = false;
      this.#tokenBytes = 0;
      this.#state = STRING;
    } else if (byte === 0x2d || isDigit(byte)) {
      this.#tokenBytes = 0;
      this.#countToken(1, at);
      this.#numberState = byte === 0x2d ? N_MINUS : byte === 0x30 ? N_ZERO : N_INT;
      this.#state = NUMBER;
    } else if (byte === 0x74 || byte === 0x66 || byte === 0x6e) {
      this.#literal = LITERALS[byte === 0x74 ? 0 : byte === 0x66 ? 1 : 2];
      this.#literalIndex = 1;
      this.#state = LITERAL;
    } else throw this.#unexpected(byte, at);
  }

  #close(at: number): void {
    this.#depth--;
    this.#valueEnded(at + 1);
  }

  /** A value ended just before `end`. */
  #valueEnded(end: number): void {
    if (this.#depth > 0) {
      this.#state = AFTER;
      return;
    }
    this.#state = DOC_END;
    this.#documents++;
    this.#onDocument(this.#docStart, end);
  }

  #stringByte(byte: number, at: number): void {
    if (this.#state === STRING && byte === 0x22) {
      if (this.#inKey) this.#state = COLON;
      else this.#valueEnded(at + 1);
      return;
    }
    this.#countToken(1, at);
    switch (this.#state) {
      case STRING:
        if (byte === 0x5c) this.#state = ESCAPE;
        else if (byte < 0x20)
          throw new RecordDecodeError(
            `unescaped control character ${describeByte(byte)} in a string at byte ${at}`,
            { offset: at },
          );
        else if (byte >= 0x80) this.#utf8Lead(byte, at);
        return;
      case ESCAPE:
        if (byte === 0x75) {
          this.#unicodeDigits = 0;
          this.#state = UNICODE;
        } else if (
          byte === 0x22 ||
          byte === 0x5c ||
          byte === 0x2f ||
          byte === 0x62 ||
          byte === 0x66 ||
          byte === 0x6e ||
          byte === 0x72 ||
          byte === 0x74
        ) {
          this.#state = STRING;
        } else
          throw new RecordDecodeError(`invalid escape \\${String.fromCharCode(byte)} at byte ${at}`, {
            offset: at,
          });
        return;
      case UNICODE:
        if (!isHex(byte)) throw new RecordDecodeError(`invalid \\u escape at byte ${at}`, { offset: at });
        if (++this.#unicodeDigits === 4) this.#state = STRING;
        return;
      default: {
        // UTF8: a continuation byte, within the bounds that rule out overlongs, surrogates and > U+10FFFF.
        if (byte < this.#utf8Low || byte > this.#utf8High) {
          // Named by where the bad sequence starts, as decoders report it.
          const start = this.#utf8Start;
          throw new RecordDecodeError(`invalid UTF-8 sequence at byte ${start}`, { offset: start });
        }
        this.#utf8Low = 0x80;
        this.#utf8High = 0xbf;
        if (--this.#utf8Needed === 0) this.#state = STRING;
      }
    }
  }

  #utf8Lead(byte: number, at: number): void {
    if (byte >= 0xc2 && byte <= 0xdf) this.#utf8Needed = 1;
    else if (byte >= 0xe0 && byte <= 0xef) {
      this.#utf8Needed = 2;
      if (byte === 0xe0) this.#utf8Low = 0xa0;
      if (byte === 0xed) this.#utf8High = 0x9f;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      this.#utf8Needed = 3;
      if (byte === 0xf0) this.#utf8Low = 0x90;
      if (byte === 0xf4) this.#utf8High = 0x8f;
    } else throw new RecordDecodeError(`invalid UTF-8 sequence at byte ${at}`, { offset: at });
    this.#utf8Start = at;
    this.#state = UTF8;
  }

  #numberMayEnd(): boolean {
    const n = this.#numberState;
    return n === N_ZERO || n === N_INT || n === N_FRAC || n === N_EXP;
  }

  /** Advances a number by `byte`; false when `byte` is not part of it (the number then must be complete). */
  #numberByte(byte: number, at: number): boolean {
    const digit = isDigit(byte);
    let next = -1;
    switch (this.#numberState) {
      case N_MINUS:
        if (digit) next = byte === 0x30 ? N_ZERO : N_INT;
        break;
      case N_ZERO:
        if (byte === 0x2e) next = N_DOT;
        else if (byte === 0x65 || byte === 0x45) next = N_E;
        break;
      case N_INT:
        if (digit) next = N_INT;
        else if (byte === 0x2e) next = N_DOT;
        else if (byte === 0x65 || byte === 0x45) next = N_E;
        break;
      case N_DOT:
        if (digit) next = N_FRAC;
        break;
      case N_FRAC:
        if (digit) next = N_FRAC;
        else if (byte === 0x65 || byte === 0x45) next = N_E;
        break;
      case N_E:
        if (digit) next = N_EXP;
        else if (byte === 0x2b || byte === 0x2d) next = N_E_SIGN;
        break;
      case N_E_SIGN:
        if (digit) next = N_EXP;
        break;
      default:
        if (digit) next = N_EXP;
    }
    if (next >= 0) {
      this.#numberState = next;
      this.#countToken(1, at);
      return true;
    }
    if (!this.#numberMayEnd()) throw this.#unexpected(byte, at);
    return false;
  }
}
