import { AppError } from '../core/index.js';
import { locateField, parseTomlText, type FieldPath } from '../recipe/index.js';
import type { Ignore } from './types.js';

/** ferry.toml's `[audit]` table: where advisories come from, and accepted risks. */
export interface AuditConfig {
  /** Files, directories or http(s) URLs of advisories; relative paths are relative to ferry.toml. */
  readonly sources: readonly string[];
  /** OpenPGP public key files (relative to ferry.toml) that must have signed every pkg-vulnerabilities file. */
  readonly keys: readonly string[];
  readonly ignores: readonly Ignore[];
}

const KEYS = ['sources', 'keys', 'ignore'];
const IGNORE_KEYS = ['id', 'reason', 'until'];
const DATE_RE = /^(\d{4})-(\d\d)-(\d\d)$/;

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (m === null) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Reads the `audit` value of a parsed ferry.toml (`undefined` when absent); `text` locates errors. */
export function readAuditConfig(value: unknown, text: string, file: string): AuditConfig {
  const fail = (path: FieldPath, message: string, hint: string): never => {
    const pos = locateField(text, path);
    throw new AppError(
      'E_MANIFEST_FIELD',
      `${file}:${pos.line}:${pos.column}: field ${path.join('.')}: ${message}`,
      {
        hint,
        details: { file, line: pos.line, column: pos.column, field: path.join('.') },
      },
    );
  };
  if (value === undefined) return { sources: [], keys: [], ignores: [] };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(['audit'], 'expected a table', 'write [audit]');
  const t = value as Record<string, unknown>;
  for (const k of Object.keys(t))
    if (!KEYS.includes(k)) fail(['audit', k], `unknown field "${k}"`, `[audit] has: ${KEYS.join(', ')}`);
  const sources = t.sources ?? [];
  if (!Array.isArray(sources) || sources.some((s) => typeof s !== 'string'))
    fail(
      ['audit', 'sources'],
      'expected a list of paths or URLs',
      'e.g. sources = ["advisories/", "https://…/all.zip"]',
    );
  const keys = t.keys ?? [];
  if (!Array.isArray(keys) || keys.some((s) => typeof s !== 'string'))
    fail(
      ['audit', 'keys'],
      'expected a list of paths of OpenPGP public keys',
      'e.g. keys = ["keys/pkgsrc-security.asc"]',
    );
  const list = t.ignore ?? [];
  if (!Array.isArray(list))
    return fail(
      ['audit', 'ignore'],
      'expected a list of tables',
      'ignore = [{ id = "CVE-…", reason = "…", until = "2027-01-01" }]',
    );
  const ignores = list.map((item: unknown, i): Ignore => {
    const path = ['audit', 'ignore', i];
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return fail(
        path,
        'expected a table { id, reason, until }',
        'ignore = [{ id = "CVE-…", reason = "…", until = "2027-01-01" }]',
      );
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!IGNORE_KEYS.includes(k))
        fail([...path, k], `unknown field "${k}"`, `an ignore has: ${IGNORE_KEYS.join(', ')}`);
    const str = (k: string) => {
      const v = o[k];
      if (v instanceof Date && k === 'until') return v.toISOString().slice(0, 10);
      return typeof v === 'string' && v.trim() !== ''
        ? v
        : fail([...path, k], `expected a non-empty string`, 'every ignore needs id, reason and until');
    };
    const until = str('until');
    if (!isIsoDate(until))
      fail([...path, 'until'], `"${until}" is not a date YYYY-MM-DD`, 'e.g. until = "2027-01-01"');
    return { id: str('id'), reason: str('reason'), until };
  });
  return { sources: sources as string[], keys: keys as string[], ignores };
}

/**
 * ferry.toml's text with `ignore` added to `[audit] ignore` (replacing an inline entry with the same id), edited
 * textually so every other byte stays as the user wrote it: the entry goes into the existing array, or a new
 * `ignore = [...]` goes under an existing `[audit]`, or a new `[audit]` table is appended. The result is parsed
 * again and must equal the old document plus the entry; if not (an unusual layout), E_MANIFEST_FIELD says
 * what to add by hand.
 */
export function addIgnoreText(text: string, file: string, ignore: Ignore): string {
  const entry = `{ id = ${JSON.stringify(ignore.id)}, reason = ${JSON.stringify(ignore.reason)}, until = ${JSON.stringify(ignore.until)} }`;
  const masked = maskStringsAndComments(text);
  const header = /^[ \t]*\[[ \t]*audit[ \t]*\][ \t]*$/m.exec(masked);
  let out: string | undefined;
  if (/^[ \t]*\[\[[ \t]*audit\.ignore[ \t]*\]\]/m.test(masked)) {
    out = `${text}${text.endsWith('\n') ? '' : '\n'}\n[[audit.ignore]]\nid = ${JSON.stringify(ignore.id)}\nreason = ${JSON.stringify(ignore.reason)}\nuntil = ${JSON.stringify(ignore.until)}\n`;
  } else if (header === null) {
    if (!/^[ \t]*audit[ \t]*[.=]/m.test(masked))
      out = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${text === '' ? '' : '\n'}[audit]\nignore = [\n  ${entry},\n]\n`;
  } else {
    const bodyStart = header.index + header[0].length;
    const next = /^[ \t]*\[/m.exec(masked.slice(bodyStart));
    const bodyEnd = next === null ? masked.length : bodyStart + next.index;
    const key = /^[ \t]*ignore[ \t]*=[ \t]*/m.exec(masked.slice(bodyStart, bodyEnd));
    if (key === null) {
      const at = bodyStart + (masked[bodyStart] === '\n' ? 1 : 0);
      out = `${text.slice(0, at)}ignore = [\n  ${entry},\n]\n${text.slice(at)}`;
    } else {
      const open = bodyStart + key.index + key[0].length;
      if (masked[open] === '[') out = editArray(text, masked, open, ignore, entry);
    }
  }
  if (out === undefined || !sameButIgnore(text, out, file, ignore))
    throw new AppError('E_MANIFEST_FIELD', `${file}: cannot add the ignore for ${ignore.id} automatically`, {
      hint: `add it under [audit] by hand: ignore = [${entry}]`,
      details: { file },
    });
  return out;
}

function editArray(
  text: string,
  masked: string,
  open: number,
  ignore: Ignore,
  entry: string,
): string | undefined {
  const close = matching(masked, open);
  if (close < 0) return undefined;
  for (let i = open + 1; i < close; i++) {
    if (masked[i] !== '{') continue;
    const end = matching(masked, i);
    if (end < 0) return undefined;
    const doc = parseTomlText(`x = ${text.slice(i, end + 1)}`, 'entry', 'E_MANIFEST_SYNTAX');
    const x = doc.x as Record<string, unknown> | undefined;
    if (x?.id === ignore.id) return text.slice(0, i) + entry + text.slice(end + 1);
    i = end;
  }
  let last = close - 1;
  while (last > open && /\s/.test(masked[last] ?? '')) last--;
  if (last === open) return `${text.slice(0, open + 1)}\n  ${entry},\n${text.slice(close)}`;
  if (masked[last] === ',') return `${text.slice(0, last + 1)}\n  ${entry},${text.slice(last + 1)}`;
  return `${text.slice(0, last + 1)},\n  ${entry}${text.slice(last + 1)}`;
}

/** Index of the bracket closing the one at `open` in masked text, or -1. */
function matching(masked: string, open: number): number {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    const c = masked[i];
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** `text` with the insides of strings and comments replaced by spaces (newlines kept), so searches see only structure. */
export function maskStringsAndComments(text: string): string {
  const out = text.split('');
  let i = 0;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      const nl = text.indexOf('\n', i);
      const end = nl < 0 ? text.length : nl;
      blank(i, end);
      i = end;
    } else if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const q = triple ? c.repeat(3) : c;
      let j = i + q.length;
      while (j < text.length) {
        if (c === '"' && text[j] === '\\') j += 2;
        else if (text.startsWith(q, j)) break;
        else if (!triple && text[j] === '\n') break;
        else j++;
      }
      while (triple && text[j + q.length] === c) j++;
      blank(i + 1, Math.min(j + q.length - 1, text.length));
      i = j + q.length;
    } else i++;
  }
  return out.join('');
}

function sameButIgnore(before: string, after: string, file: string, ignore: Ignore): boolean {
  const a = parseTomlText(before, file, 'E_MANIFEST_SYNTAX');
  let b: Record<string, unknown>;
  try {
    b = parseTomlText(after, file, 'E_MANIFEST_SYNTAX');
  } catch {
    return false;
  }
  const strip = (d: Record<string, unknown>) => {
    const audit = { ...((d.audit as Record<string, unknown> | undefined) ?? {}) };
    const list = (Array.isArray(audit.ignore) ? audit.ignore : []) as Record<string, unknown>[];
    delete audit.ignore;
    return { doc: JSON.stringify({ ...d, audit }), list };
  };
  const sa = strip(a);
  const sb = strip(b);
  const want = [...sa.list.filter((x) => x.id !== ignore.id), { ...ignore }];
  const norm = (l: readonly Record<string, unknown>[]) =>
    JSON.stringify(
      l
        .map((x) => [x.id, x.reason, x.until instanceof Date ? x.until.toISOString().slice(0, 10) : x.until])
        .sort(),
    );
  return sa.doc === sb.doc && norm(sb.list) === norm(want);
}
