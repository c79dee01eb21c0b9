import { createHash } from 'node:crypto';
import { AppError } from '../core/index.js';
import type { Advisory } from './types.js';

export interface PkgVulnerabilities {
  readonly advisories: readonly Advisory[];
  /** The `# $NetBSD: … vN.NNNN YYYY/MM/DD …` header's revision and date, when present. */
  readonly revision?: string;
  readonly date?: string;
  /** Hash algorithms whose `#CHECKSUM` line verified. */
  readonly verified: readonly string[];
  /** Things the reader wants said (no checksum). */
  readonly notes: readonly string[];
  /**
   * For a clearsigned file, the text its signature covers, as gpgv outputs it (dash-escapes removed, trailing
   * blanks dropped, every line ending in a newline), so a verifier can prove that what was read is what was signed.
   */
  readonly signedText?: string;
}

const PGP_START = '-----BEGIN PGP SIGNED MESSAGE-----';
const PGP_SIG = '-----BEGIN PGP SIGNATURE-----';
const ALGORITHMS: Readonly<Record<string, string>> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/** True when `text` looks like a pkg-vulnerabilities file (signed or not), for detection by content. */
export function looksLikePkgVulnerabilities(text: string): boolean {
  const head = text.slice(0, 8192);
  return /^#FORMAT /m.test(head) || head.includes('pkg-vulnerabilities');
}

/**
 * Reads pkgsrc's `pkg-vulnerabilities` with the rules of pkg_install's parser: no NUL bytes, every line ends in
 * a newline, `#FORMAT 1.1.0` before the first entry, entries `PATTERN TYPE URL`. Every `#CHECKSUM ALG HEX` line
 * is verified as pkg_install does (hash of every line, newline included, except empty lines and those starting
 * with `-----BEGIN`, `Hash:`, `# $NetBSD` or `#CHECKSUM`, up to a line starting with `Version:`); a mismatch is
 * E_ADVISORY_CHECKSUM. The PGP signature is left to the caller (see `signedText`). `eol` entries (end of life, not a
 * vulnerability) are skipped unless `includeEol`. `text` is the file decoded as latin1, so hashes see its bytes.
 */
export function parsePkgVulnerabilities(
  text: string,
  file: string,
  opts: { includeEol?: boolean } = {},
): PkgVulnerabilities {
  const bad = (line: number, why: string): never => {
    throw new AppError('E_ADVISORY_FORMAT', `${file}:${line}: ${why}`, {
      hint: 'a pkg-vulnerabilities file has "#FORMAT 1.1.0" and lines "PATTERN TYPE URL"; download it again',
      details: { file, line },
    });
  };
  if (text.includes('\0')) bad(text.slice(0, text.indexOf('\0')).split('\n').length, 'contains a NUL byte');
  if (!text.endsWith('\n')) bad(text.split('\n').length, 'the last line does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  const notes: string[] = [];
  const signed = lines[0] === PGP_START;
  let i = 0;
  if (signed) {
    while (i < lines.length && lines[i] !== '') i++;
    i++;
  }
  const verified = verifyChecksums(text, lines, file);
  if (verified.length === 0) notes.push(`${file}: no #CHECKSUM line; its integrity was not checked`);
  const bodyStart = i;
  let format: string | undefined;
  let revision: string | undefined;
  let date: string | undefined;
  const advisories: Advisory[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === PGP_SIG) break;
    const header = /^# \$NetBSD: \S+,v (\S+) (\d{4})\/(\d\d)\/(\d\d)/.exec(line);
    if (header !== null) {
      revision = header[1];
      date = `${header[2]}-${header[3]}-${header[4]}`;
    }
    if (line.startsWith('#FORMAT ')) {
      format = line.slice(8);
      if (format !== '1.1.0')
        bad(i + 1, `format "${format}" is not supported (this ferry reads #FORMAT 1.1.0)`);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    if (format === undefined) bad(i + 1, 'an entry comes before the #FORMAT line');
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 3) bad(i + 1, `expected "PATTERN TYPE URL", found ${fields.length} field(s)`);
    const [pattern = '', type = '', url = ''] = fields;
    if (type === 'eol' && opts.includeEol !== true) continue;
    const cve = /(?:CVE|CAN)-\d{4}-\d{4,}/.exec(url)?.[0];
    advisories.push({
      id: cve ?? url,
      aliases: cve === undefined ? [] : [url],
      summary: type,
      severity: 'unknown',
      url,
      affected: [{ kind: 'pkgsrc', pattern }],
      source: `${file}:${i + 1}`,
    });
  }
  if (format === undefined) bad(lines.length, 'no "#FORMAT 1.1.0" line');
  return {
    advisories,
    ...(signed ? { signedText: clearsignedText(lines.slice(bodyStart, i)) } : {}),
    ...(revision === undefined ? {} : { revision }),
    ...(date === undefined ? {} : { date }),
    verified,
    notes,
  };
}

/** The cleartext of a clearsigned message's body lines, as OpenPGP defines what the signature covers. */
function clearsignedText(body: readonly string[]): string {
  return body.map((l) => `${(l.startsWith('- ') ? l.slice(2) : l).replace(/[ \t]+$/, '')}\n`).join('');
}

/** Checks every `#CHECKSUM` line; returns the algorithms that verified, throws on a mismatch. */
function verifyChecksums(text: string, lines: readonly string[], file: string): string[] {
  const wanted = lines
    .map((l, n) => ({ l, n }))
    .filter(({ l }) => l.startsWith('#CHECKSUM '))
    .map(({ l, n }) => {
      const m = /^#CHECKSUM (\S+)\s+([0-9a-fA-F]+)\s*$/.exec(l);
      const alg = m === null ? undefined : ALGORITHMS[m[1] ?? ''];
      if (m === null || alg === undefined)
        throw new AppError('E_ADVISORY_FORMAT', `${file}:${n + 1}: unsupported or malformed #CHECKSUM line`, {
          hint: 'pkg-vulnerabilities checksums are SHA1, SHA256 or SHA512 followed by a hex digest',
        });
      return { name: m[1] ?? '', alg, hex: (m[2] ?? '').toLowerCase() };
    });
  if (wanted.length === 0) return [];
  const hashed = hashedText(text);
  return wanted.map((w) => {
    const got = createHash(w.alg).update(hashed, 'latin1').digest('hex');
    if (got !== w.hex)
      throw new AppError(
        'E_ADVISORY_CHECKSUM',
        `${file}: #CHECKSUM ${w.name} does not match: the file says ${w.hex.slice(0, 16)}…, its content hashes to ${got.slice(0, 16)}…`,
        {
          hint: 'the file was altered or damaged after it was published; fetch it again (ferry audit fetch)',
          details: { file, algorithm: w.name, expected: w.hex, actual: got },
        },
      );
    return w.name;
  });
}

const SKIPPED = ['-----BEGIN', 'Hash:', '# $NetBSD', '#CHECKSUM'];

/** The bytes pkg_install hashes for #CHECKSUM: see parsePkgVulnerabilities. */
export function hashedText(text: string): string {
  let out = '';
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(start, end);
    start = end;
    if (line.startsWith('Version:')) break;
    if (line === '\n' || SKIPPED.some((s) => line.startsWith(s))) continue;
    out += line;
  }
  return out;
}
