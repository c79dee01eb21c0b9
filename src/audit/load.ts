import * as fs from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError, isErrno, messageOf } from '../core/index.js';
import { readOsvDocument } from './osv.js';
import { verifyClearsigned } from './pgp.js';
import { looksLikePkgVulnerabilities, parsePkgVulnerabilities, type PkgVulnerabilities } from './pkgsrc.js';
import type { Advisory } from './types.js';
import { isZip, readZip } from './zip.js';

/** One advisory file or directory as read: what it held and how fresh it is. */
export interface SourceInfo {
  readonly path: string;
  readonly formats: readonly ('osv' | 'pkg-vulnerabilities')[];
  readonly advisories: number;
  /** The newest date the data itself carries (OSV `modified`, the pkg-vulnerabilities header), `YYYY-MM-DD`. */
  readonly newest?: string;
  /** `#CHECKSUM` algorithms that verified (pkg-vulnerabilities). */
  readonly verified: readonly string[];
  /** Fingerprints of the keys whose PGP signatures verified (pkg-vulnerabilities, when keys were given). */
  readonly signedBy?: readonly string[];
}

export interface LoadOptions {
  /**
   * OpenPGP public key files. When given, every pkg-vulnerabilities file must be clearsigned by one of them
   * (checked with gpgv), else E_ADVISORY_SIGNATURE; without them a signature is reported as not verified.
   */
  readonly keys?: readonly string[];
}

export interface LoadedAdvisories {
  readonly advisories: readonly Advisory[];
  readonly sources: readonly SourceInfo[];
  readonly notes: readonly string[];
}

/**
 * Reads advisories from files and directories, detecting the format by content: a zip archive (of OSV JSON
 * records), JSON (OSV: one record, a list, or an object of records), or pkgsrc's pkg-vulnerabilities. A
 * directory is walked recursively: `*.json` must be OSV, `*.zip` are read, other files are used when they look
 * like pkg-vulnerabilities; names starting with `.` are skipped.
 */
export async function loadAdvisories(
  paths: readonly string[],
  options: LoadOptions = {},
): Promise<LoadedAdvisories> {
  const advisories: Advisory[] = [];
  const sources: SourceInfo[] = [];
  const notes: string[] = [];
  for (const path of paths) {
    const acc: Acc = {
      advisories: [],
      formats: new Set(),
      verified: [],
      signedBy: [],
      keys: options.keys ?? [],
      notes,
      yaml: 0,
    };
    let st;
    try {
      st = await fs.stat(path);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      throw new AppError('E_ADVISORY_MISSING', `advisory source ${path} does not exist`, {
        hint: 'pass an existing file or directory to --advisories, or run ferry audit fetch',
        details: { path },
      });
    }
    if (st.isDirectory()) await readDir(path, acc);
    else await readFile(path, acc, true);
    if (acc.yaml > 0) notes.push(`${path}: ${acc.yaml} YAML file(s) skipped; ferry reads OSV as JSON`);
    const newest = newestDate(acc.advisories, acc.newest);
    advisories.push(...acc.advisories);
    sources.push({
      path,
      formats: [...acc.formats].sort(),
      advisories: acc.advisories.length,
      ...(newest === undefined ? {} : { newest }),
      verified: acc.verified,
      ...(acc.signedBy.length === 0 ? {} : { signedBy: [...new Set(acc.signedBy)] }),
    });
  }
  return { advisories, sources, notes };
}

interface Acc {
  advisories: Advisory[];
  formats: Set<'osv' | 'pkg-vulnerabilities'>;
  verified: string[];
  signedBy: string[];
  keys: readonly string[];
  notes: string[];
  yaml: number;
  newest?: string;
}

async function readDir(dir: string, acc: Acc): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) await readDir(p, acc);
    else if (e.isFile()) await readFile(p, acc, false);
  }
}

async function readFile(path: string, acc: Acc, explicit: boolean): Promise<void> {
  const name = basename(path).toLowerCase();
  if (name.endsWith('.yaml') || name.endsWith('.yml')) {
    acc.yaml++;
    return;
  }
  const data = await fs.readFile(path);
  if (isZip(data)) {
    for (const entry of readZip(data, path, (n) => n.toLowerCase().endsWith('.json'))) {
      acc.advisories.push(
        ...readOsvDocument(
          parseJson(entry.data.toString('utf8'), `${path}:${entry.name}`),
          `${path}:${entry.name}`,
        ),
      );
      acc.formats.add('osv');
    }
    return;
  }
  const text = data.toString('latin1');
  const first = /\S/.exec(text)?.[0];
  if (name.endsWith('.json') || first === '{' || first === '[') {
    acc.advisories.push(...readOsvDocument(parseJson(data.toString('utf8'), path), path));
    acc.formats.add('osv');
    return;
  }
  if (looksLikePkgVulnerabilities(text)) {
    const r = parsePkgVulnerabilities(text, path);
    const signer = checkSignature(data, r, path, acc);
    if (signer !== undefined) acc.signedBy.push(signer);
    acc.advisories.push(...r.advisories);
    acc.formats.add('pkg-vulnerabilities');
    acc.verified.push(...r.verified);
    acc.notes.push(...r.notes);
    if (r.date !== undefined && (acc.newest === undefined || r.date > acc.newest)) acc.newest = r.date;
    return;
  }
  if (explicit)
    throw new AppError(
      'E_ADVISORY_FORMAT',
      `${path} is neither OSV JSON, a zip of OSV records, nor pkg-vulnerabilities`,
      {
        hint: 'ferry reads OSV JSON records and pkgsrc pkg-vulnerabilities files',
        details: { file: path },
      },
    );
}

/**
 * With keys: the file must be clearsigned by one of them, and the text gpgv says was signed must be the text
 * that was parsed (so nothing outside the signed part is used). Without keys, a signature is only mentioned.
 */
function checkSignature(data: Buffer, r: PkgVulnerabilities, path: string, acc: Acc): string | undefined {
  if (acc.keys.length === 0) {
    if (r.signedText !== undefined)
      acc.notes.push(
        `${path}: PGP signature not verified (ferry checked the #CHECKSUM lines; give the signer's key with --advisories-key FILE or [audit] keys to verify it)`,
      );
    return undefined;
  }
  if (r.signedText === undefined)
    throw new AppError('E_ADVISORY_SIGNATURE', `${path} is not PGP-signed, and advisory keys were given`, {
      hint: 'fetch the signed file (pkgsrc publishes pkg-vulnerabilities clearsigned), or drop the keys to use it unsigned',
      details: { file: path },
    });
  const v = verifyClearsigned(data, acc.keys, path);
  if (v.plaintext !== r.signedText)
    throw new AppError('E_ADVISORY_SIGNATURE', `${path}: the signed text is not the text ferry read`, {
      hint: 'the file has content outside its signed part; fetch it again from its publisher',
      details: { file: path },
    });
  return v.fingerprint;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new AppError('E_ADVISORY_FORMAT', `${source} is not valid JSON: ${messageOf(e)}`, {
      hint: 'download the advisories again',
      details: { file: source },
      cause: e,
    });
  }
}

function newestDate(advisories: readonly Advisory[], start: string | undefined): string | undefined {
  let newest = start;
  for (const a of advisories) {
    const d = a.modified?.slice(0, 10);
    if (d !== undefined && /^\d{4}-\d\d-\d\d$/.test(d) && (newest === undefined || d > newest)) newest = d;
  }
  return newest;
}
