/**
 * Card numbers (PANs) must never leave the device in a message or a log line: the contract exists to
 * keep them out. One rule decides what looks like a PAN (the contract refuses such card tokens) and
 * one function masks them in text (every TributaryError message goes through it).
 */

/** ISO/IEC 7812 PANs in use are 12 (some Maestro) to 19 digits. */
export const PAN_MIN_DIGITS = 12;
export const PAN_MAX_DIGITS = 19;
/** Longest text a card number can span: 19 digits and a separator between each two. */
export const PAN_WINDOW_CHARS = 2 * PAN_MAX_DIGITS - 1;
/** PCI DSS allows at most the first six and the last four digits to be shown. */
const SHOWN_LAST = 4;
const SHOWN_FIRST = 6;
/** Below this many digits the first six would leave too few hidden, so only the last four show. */
const SHOW_FIRST_FROM = 16;

/** Digits possibly grouped by single spaces or dashes, as card numbers are written. */
const DIGIT_RUN = /[0-9](?:[ -]?[0-9])*/g;
const SEPARATOR = /[ -]/;

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

function isPanDigits(digits: string): boolean {
  return digits.length >= PAN_MIN_DIGITS && digits.length <= PAN_MAX_DIGITS && luhnValid(digits);
}

/** A whole value that looks like a raw card number: 12–19 digits (spaces/dashes allowed) passing Luhn. */
export function looksLikePan(value: string): boolean {
  if (value.length < PAN_MIN_DIGITS) return false;
  const digits = value.replace(/[\s-]/g, '');
  return /^[0-9]+$/.test(digits) && isPanDigits(digits);
}

/** `run` (digits and separators) with every digit but the shown ones replaced by `*`. */
function maskRun(run: string): string {
  let total = 0;
  for (let i = 0; i < run.length; i++) if (!SEPARATOR.test(run.charAt(i))) total++;
  const first = total >= SHOW_FIRST_FROM ? SHOWN_FIRST : 0;
  let seen = 0;
  let out = '';
  for (let i = 0; i < run.length; i++) {
    const char = run.charAt(i);
    if (SEPARATOR.test(char)) {
      out += char;
      continue;
    }
    out += seen < first || seen >= total - SHOWN_LAST ? char : '*';
    seen++;
  }
  return out;
}

/**
 * Masks a run of digit groups: the whole run when it is a PAN, otherwise any consecutive groups that
 * form one (`4111 1111 1111 1111 2024`). A run of more than 19 digits without separators is left
 * alone: no PAN is that long, and Kinesis sequence numbers (56 digits) stay readable.
 */
function maskDigitRun(run: string): string {
  const groups = run.split(/([ -])/);
  const digitsOf = (from: number, to: number) => {
    let digits = '';
    for (let g = from; g <= to; g += 2) digits += groups[g];
    return digits;
  };
  if (isPanDigits(digitsOf(0, groups.length - 1))) return maskRun(run);
  if (groups.length === 1) return run;
  const out = [...groups];
  for (let i = 0; i < groups.length; i += 2) {
    let length = 0;
    for (let j = i; j < groups.length; j += 2) {
      length += groups[j]?.length ?? 0;
      if (length > PAN_MAX_DIGITS) break;
      if (length >= PAN_MIN_DIGITS && luhnValid(digitsOf(i, j))) {
        const masked = maskRun(groups.slice(i, j + 1).join('')).split(/([ -])/);
        out.splice(i, j - i + 1, ...masked);
        i = j;
        break;
      }
    }
  }
  return out.join('');
}

/**
 * `text` with everything that looks like a card number masked to its first six (16+ digits) and last
 * four digits: `4111 11** **** 1111`. Separators, length and all other characters are kept.
 */
export function maskPans(text: string): string {
  // Fast path: most messages hold no run of 12 digits.
  let digits = 0;
  let found = false;
  for (let i = 0; i < text.length && !found; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) found = ++digits >= PAN_MIN_DIGITS;
    else if (code !== 0x20 && code !== 0x2d) digits = 0;
  }
  return found ? text.replace(DIGIT_RUN, (run) => maskDigitRun(run)) : text;
}
