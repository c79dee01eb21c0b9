import { AppError, isAppError } from '../core/index.js';
import {
  formatRange,
  parseOp,
  parseVersion,
  satisfies,
  type Constraint,
  type Op,
  type VersionRange,
} from '../version/index.js';

/** One package a dependency can be met by: a name, optionally one slot of it, and the versions allowed. */
export interface PackageRequirement {
  readonly name: string;
  /** Absent means any slot. */
  readonly slot?: string;
  /** Empty means any version. */
  readonly range: VersionRange;
}

/**
 * A parsed dependency string, `name[:slot] [op version[, op version]…] [| …] [if [!]option]`.
 * Met by any one of `alternatives`, tried in order; required only when `condition` holds for the options.
 */
export interface DepSpec {
  readonly alternatives: readonly PackageRequirement[];
  readonly condition?: { readonly option: string; readonly negated: boolean };
  /** The string as written in the recipe, for messages. */
  readonly text: string;
}

type Condition = NonNullable<DepSpec['condition']>;

const EXAMPLES = 'write it like "zlib >= 1.2.11, < 2", "openssl:3 if ssl" or "foo | bar >= 2 if !static"';
const OPERATORS = 'an operator (<, <=, =, >=, >, !=)';

/**
 * Parses a dependency string. Whitespace around tokens is optional except before `if` and after it.
 * Throws `E_DEPSPEC_SYNTAX` whose message quotes the string and names the 1-based column (also in
 * `details.column`) and what was expected there.
 */
export function parseDepSpec(text: string): DepSpec {
  const s = new Scanner(text);
  s.skipSpace();
  const alternatives: PackageRequirement[] = [];
  for (;;) {
    alternatives.push(readRequirement(s));
    s.skipSpace();
    if (s.peek() !== PIPE) break;
    s.pos++;
    s.skipSpace();
  }
  let condition: Condition | undefined;
  if (s.atIf()) {
    s.pos += 2;
    if (!s.atEnd() && !isSpace(s.peek())) s.fail('a space after "if"');
    s.skipSpace();
    let negated = false;
    if (s.peek() === BANG) {
      negated = true;
      s.pos++;
    }
    const start = s.pos;
    if (!isLower(s.peek())) s.fail(negated ? 'an option name after "!"' : 'an option name after "if"');
    while (isOptionChar(s.peek())) s.pos++;
    condition = { option: text.slice(start, s.pos), negated };
    s.skipSpace();
    if (s.peek() === PIPE || s.peek() === COMMA)
      s.fail('the end of the string (the "if" condition applies to the whole dependency and comes last)');
    if (!s.atEnd()) s.fail('the end of the string after the condition');
  } else if (!s.atEnd()) {
    const last = alternatives[alternatives.length - 1];
    s.fail(
      last !== undefined && last.range.length > 0
        ? '",", "|", "if <option>" or the end of the string'
        : `${OPERATORS}, "|", "if <option>" or the end of the string`,
    );
  }
  return condition === undefined ? { alternatives, text } : { alternatives, condition, text };
}

function readRequirement(s: Scanner): PackageRequirement {
  const start = s.pos;
  if (!isNameStart(s.peek()))
    s.fail('a package name (lowercase letters, digits and + . _ -, starting with a letter or digit)');
  while (isNameChar(s.peek())) s.pos++;
  const name = s.text.slice(start, s.pos);
  if (isUpper(s.peek())) s.fail('a lowercase package name');
  let slot: string | undefined;
  if (s.peek() === COLON) {
    s.pos++;
    const slotStart = s.pos;
    while (isSlotChar(s.peek())) s.pos++;
    if (s.pos === slotStart) s.fail('a slot after ":" (letters, digits and . _ + -)');
    slot = s.text.slice(slotStart, s.pos);
  }
  const end = s.peek();
  if (end !== END && !isSpace(end) && end !== PIPE && !isOpStart(end))
    s.fail(`${OPERATORS}, "|", "if <option>" or the end of the string after "${s.text.slice(start, s.pos)}"`);
  s.skipSpace();
  const range: Constraint[] = [];
  if (isOpStart(s.peek())) {
    for (;;) {
      range.push(readConstraint(s));
      s.skipSpace();
      if (s.peek() !== COMMA) break;
      s.pos++;
      s.skipSpace();
      if (!isOpStart(s.peek())) s.fail(`${OPERATORS} after ","`);
    }
  }
  return slot === undefined ? { name, range } : { name, slot, range };
}

function readConstraint(s: Scanner): Constraint {
  const opStart = s.pos;
  while (isOpStart(s.peek())) s.pos++;
  const opText = s.text.slice(opStart, s.pos);
  const op: Op | undefined = parseOp(opText);
  if (op === undefined) {
    s.pos = opStart;
    s.fail(`${OPERATORS}, found "${opText}"`, false);
  }
  s.skipSpace();
  const versionStart = s.pos;
  while (!s.atEnd() && !isSpace(s.peek()) && s.peek() !== COMMA && s.peek() !== PIPE) s.pos++;
  const versionText = s.text.slice(versionStart, s.pos);
  s.pos = versionStart;
  if (versionText.length === 0) s.fail(`a version after "${opText}"`);
  try {
    const version = parseVersion(versionText);
    s.pos += versionText.length;
    return { op, version };
  } catch (e) {
    if (!isAppError(e)) throw e;
    const problem = typeof e.details.problem === 'string' ? ` (${e.details.problem})` : '';
    return s.fail(`a version after "${opText}", found "${versionText}"${problem}`, false, e);
  }
}

/** Renders a dependency in canonical form; `parseDepSpec(formatDepSpec(d))` equals `d` apart from `text`. */
export function formatDepSpec(d: DepSpec): string {
  const alternatives = d.alternatives
    .map((a) => {
      const head = a.slot === undefined ? a.name : `${a.name}:${a.slot}`;
      return a.range.length === 0 ? head : `${head} ${formatRange(a.range)}`;
    })
    .join(' | ');
  const c = d.condition;
  return c === undefined ? alternatives : `${alternatives} if ${c.negated ? '!' : ''}${c.option}`;
}

/** True when `pkg` has the required name, the required slot (if one is named) and a version in the range. */
export function matchesRequirement(
  req: PackageRequirement,
  pkg: { readonly name: string; readonly slot: string; readonly version: string },
): boolean {
  return (
    pkg.name === req.name &&
    (req.slot === undefined || req.slot === pkg.slot) &&
    satisfies(pkg.version, req.range)
  );
}

/**
 * Splits a trailing ` if [!]option` off a recipe string such as `"--with-http_ssl_module if ssl"`. `if` needs
 * whitespace on both sides and the option must look like an option name (`[a-z][a-z0-9_-]*`); otherwise the
 * whole string is the value and there is no condition. The whitespace before `if` is not part of the value.
 */
export function parseConditional(text: string): { value: string; condition?: Condition } {
  let end = text.length;
  while (end > 0 && isSpace(text.charCodeAt(end - 1))) end--;
  let start = end;
  while (start > 0 && isOptionChar(text.charCodeAt(start - 1))) start--;
  while (start < end && !isLower(text.charCodeAt(start))) start++;
  if (start === end) return { value: text };
  const option = text.slice(start, end);
  let i = start;
  const negated = i > 0 && text.charCodeAt(i - 1) === BANG;
  if (negated) i--;
  let j = i;
  while (j > 0 && isSpace(text.charCodeAt(j - 1))) j--;
  // Now text[j, i) must be whitespace, preceded by "if", preceded by whitespace.
  if (j === i || j < 3 || text.slice(j - 2, j) !== 'if' || !isSpace(text.charCodeAt(j - 3)))
    return { value: text };
  let k = j - 3;
  while (k > 0 && isSpace(text.charCodeAt(k - 1))) k--;
  return { value: text.slice(0, k), condition: { option, negated } };
}

const END = -1;
const SPACE = 0x20;
const TAB = 0x09;
const PIPE = 0x7c;
const COMMA = 0x2c;
const COLON = 0x3a;
const BANG = 0x21;

/** Cursor over a dependency string; `fail` turns the position into an error that points at it. */
class Scanner {
  readonly text: string;
  pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : END;
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  skipSpace(): void {
    while (isSpace(this.peek())) this.pos++;
  }

  /**
   * At the keyword `if`: followed by whitespace, `!` or the end (the caller insists on the whitespace).
   * Only asked after a name or version, which would have swallowed a preceding letter, so `if` is a word.
   */
  atIf(): boolean {
    if (!this.text.startsWith('if', this.pos)) return false;
    const next = this.pos + 2 < this.text.length ? this.text.charCodeAt(this.pos + 2) : END;
    return next === END || next === BANG || isSpace(next);
  }

  /** Throws E_DEPSPEC_SYNTAX: what was `expected` at the current column and, by default, what was found. */
  fail(expected: string, showFound = true, cause?: unknown): never {
    const column = this.pos + 1;
    const found = !showFound
      ? ''
      : this.atEnd()
        ? ', found the end'
        : `, found "${this.text.charAt(this.pos)}"`;
    throw new AppError(
      'E_DEPSPEC_SYNTAX',
      `dependency "${this.text}" at column ${column}: expected ${expected}${found}`,
      cause === undefined
        ? { hint: EXAMPLES, details: { column } }
        : { hint: EXAMPLES, details: { column }, cause },
    );
  }
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB;
}

function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isNameStart(c: number): boolean {
  return isLower(c) || isDigit(c);
}

/** `[a-z0-9+._-]` */
function isNameChar(c: number): boolean {
  return isNameStart(c) || c === 0x2b || c === 0x2e || c === 0x5f || c === 0x2d;
}

/** `[A-Za-z0-9._+-]` */
function isSlotChar(c: number): boolean {
  return isNameChar(c) || isUpper(c);
}

/** `[a-z0-9_-]`, the characters of an option name after its first letter. */
function isOptionChar(c: number): boolean {
  return isLower(c) || isDigit(c) || c === 0x5f || c === 0x2d;
}

function isOpStart(c: number): boolean {
  return c === 0x3c || c === 0x3e || c === 0x3d || c === BANG;
}
