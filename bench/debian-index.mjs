// @ts-check
/**
 * Reads a Debian `Packages` index into the solver's input (`CandidateSource`, see src/resolve/solver/types.ts).
 *
 * Loading is one pass over the bytes (native `indexOf` for the lines starting with "P"): it records where each
 * stanza starts and hashes, in place, each package name and each provided name into open-addressing tables; it
 * allocates no string per package. Everything else (versions, dependencies, conflicts) stays as raw bytes until
 * the solver asks for a name, and is parsed then, once per index (`clearCache` forgets).
 *
 * Mapping (an empty system, so the install-time distinctions do not matter):
 * - Depends and Pre-Depends → `depends`; `a | b (>= 1)` → one requirement with two alternatives.
 * - Conflicts and Breaks → `conflicts`. Terms naming the package itself are dropped: they can only match other
 *   versions of the same name, which "one version per name" already excludes (and dpkg ignores a package's
 *   conflict with itself).
 * - Provides → `provides`, with the version of `(= v)` when given.
 * - Operators: `<<` → `<`, `>>` → `>`, the obsolete `<` and `>` → `<=` and `>=` (as dpkg reads them).
 * - Architecture qualifiers (`:any`, `:native`, `:amd64`) are stripped; stanzas of other architectures than
 *   the wanted one and `all` are skipped.
 * - Recommends, Suggests and Enhances are ignored. Essential packages are not added to anything.
 * - Every candidate's slot is "0": Debian allows one version per name.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions } from '../dist/version/index.js';

/**
 * @typedef {import('../dist/version/index.js').VersionRange} VersionRange
 * @typedef {{ readonly name: string, readonly slot?: string, readonly range: VersionRange }} Term
 * @typedef {{ readonly alternatives: readonly Term[], readonly text: string }} Requirement
 * @typedef {{ readonly name: string, readonly version?: string }} Provision
 * @typedef {{
 *   readonly name: string, readonly slot: string, readonly version: string,
 *   readonly depends: readonly Requirement[], readonly conflicts: readonly Term[],
 *   readonly provides: readonly Provision[]
 * }} Candidate
 */

export const LISTS_DIR = '/var/lib/apt/lists';

/**
 * The path of the machine's `Packages` index for one suite, component and architecture under apt's lists
 * directory (compressed or not), or throws saying what was looked for.
 */
export function findPackagesIndex(suite = 'bookworm', component = 'main', arch = 'amd64', dir = LISTS_DIR) {
  const marker = `_dists_${suite}_${component}_binary-${arch}_Packages`;
  const found = readdirSync(dir)
    .filter((f) => {
      const at = f.indexOf(marker);
      return at >= 0 && /^(\.(lz4|gz|xz|zst|bz2))?$/.test(f.slice(at + marker.length));
    })
    .sort();
  if (found.length === 0)
    throw new Error(
      `no *${marker}[.lz4|.gz|.xz] in ${dir}: run apt-get update with ${suite} ${component} enabled`,
    );
  return join(dir, found[0]);
}

/** The bytes of an index; compressed files are read through apt's own decompressor (`apt-helper cat-file`). */
export function readIndex(path) {
  if (/\.(lz4|gz|xz|zst|bz2)$/.test(path))
    return execFileSync('/usr/lib/apt/apt-helper', ['cat-file', path], { maxBuffer: 1 << 30 });
  return readFileSync(path);
}

/** @type {VersionRange} */
const ANY = Object.freeze([]);
/** @type {readonly never[]} */
const NONE = Object.freeze([]);

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;
const NL = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COMMA = 0x2c;
const PACKAGE = Buffer.from('Package: ', 'latin1');
const PROVIDES = Buffer.from('Provides: ', 'latin1');
const NL_P = Buffer.from('\nP', 'latin1');

/** FNV-1a over a string's character codes, the same function `scan` computes over the bytes of the index. */
function hashString(s) {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** True when `buf` holds `prefix` at `p`. */
function hasPrefix(buf, p, prefix) {
  if (p + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[p + i] !== prefix[i]) return false;
  return true;
}

function isBlank(c) {
  return c === SP || c === TAB;
}

/** Bytes that can be part of a package name (anything but blanks, newline and `,(:`). */
function isNameByte(c) {
  return c !== SP && c !== TAB && c !== NL && c !== COMMA && c !== 0x28 && c !== 0x3a;
}

/** True when the `len` bytes at `a` and `b` are equal (and `len === lenB`). */
function sameBytes(buf, a, len, b, lenB) {
  if (len !== lenB) return false;
  for (let j = 0; j < len; j++) if (buf[a + j] !== buf[b + j]) return false;
  return true;
}

/**
 * Names found in the index, by hash: open addressing over entries that point into the index's bytes, so
 * loading allocates no string per package. Several entries may share a name (duplicate stanzas, providers).
 */
class NameTable {
  constructor() {
    /** @type {number[]} */ this.start = [];
    /** @type {number[]} */ this.len = [];
    /** @type {number[]} */ this.hash = [];
    /** @type {number[]} */ this.value = [];
    this.slots = new Int32Array(0);
    this.mask = 0;
  }

  add(start, len, hash, value) {
    this.start.push(start);
    this.len.push(len);
    this.hash.push(hash);
    this.value.push(value);
  }

  /** Builds the hash table once every entry is added. */
  seal() {
    let cap = 16;
    while (cap < this.hash.length * 2) cap *= 2;
    const slots = new Int32Array(cap);
    const mask = cap - 1;
    for (let e = 0; e < this.hash.length; e++) {
      let i = this.hash[e] & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = e + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** Values of the entries named `name`, in the order they were added. @param {Buffer} buf @param {string} name */
  find(buf, name) {
    const h = hashString(name);
    /** @type {number[]} */
    const found = [];
    for (let i = h & this.mask; this.slots[i] !== 0; i = (i + 1) & this.mask) {
      const e = this.slots[i] - 1;
      if (this.hash[e] !== h || this.len[e] !== name.length) continue;
      const s = this.start[e];
      let j = 0;
      while (j < name.length && buf[s + j] === name.charCodeAt(j)) j++;
      if (j === name.length) found.push(this.value[e]);
    }
    return found.length > 1 ? found.sort((a, b) => a - b) : found;
  }

  /** Number of distinct names. */
  distinct(buf) {
    const seen = new Set();
    for (let e = 0; e < this.hash.length; e++)
      seen.add(buf.latin1Slice(this.start[e], this.start[e] + this.len[e]));
    return seen.size;
  }
}

/** A `CandidateSource` over one Debian `Packages` file. */
export class DebianIndex {
  /**
   * @param {Buffer | string} data the whole `Packages` file
   * @param {{ arch?: string }} [options]
   */
  constructor(data, options = {}) {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.buf = buf;
    this.arch = options.arch ?? 'amd64';
    /** @type {number[]} offset of each stanza's `Package:` line */
    const starts = [];
    const names = new NameTable();
    const providers = new NameTable();
    const end = buf.length;
    // One pass over the lines that start with "P", looking at two fields: Package (a new stanza: its name is
    // hashed in place) and Provides (each provided name is hashed in place). Nothing else is read now.
    let p = buf[0] === 0x50 ? 0 : buf.indexOf(NL_P) + 1;
    if (p === 0 && buf[0] !== 0x50) p = -1;
    while (p >= 0) {
      let i = p;
      if (hasPrefix(buf, p, PACKAGE)) {
        i = p + PACKAGE.length;
        let h = FNV_OFFSET;
        while (i < end && buf[i] !== NL) h = Math.imul(h ^ buf[i++], FNV_PRIME);
        names.add(p + PACKAGE.length, i - p - PACKAGE.length, h, starts.length);
        starts.push(p);
      } else if (hasPrefix(buf, p, PROVIDES) && starts.length > 0) {
        const k = starts.length - 1;
        i = p + PROVIDES.length;
        // Items are `name[:arch] [(= version)]`, comma-separated; continuation lines start with a blank.
        for (;;) {
          while (i < end && (buf[i] === SP || buf[i] === TAB || (buf[i] === NL && isBlank(buf[i + 1])))) i++;
          if (i >= end || buf[i] === NL) break;
          const s = i;
          let h = FNV_OFFSET;
          while (i < end && isNameByte(buf[i])) h = Math.imul(h ^ buf[i++], FNV_PRIME);
          if (i > s && !sameBytes(buf, s, i - s, names.start[k], names.len[k])) providers.add(s, i - s, h, k);
          while (i < end && buf[i] !== COMMA && !(buf[i] === NL && !isBlank(buf[i + 1]))) i++;
          if (buf[i] === COMMA) i++;
        }
      }
      const next = buf.indexOf(NL_P, i);
      p = next < 0 ? -1 : next + 1;
    }
    names.seal();
    providers.seal();
    this.starts = starts;
    this.names = names;
    this.providers = providers;
    this.clearCache();
  }

  /** Number of stanzas in the index. */
  get size() {
    return this.starts.length;
  }

  /** Forgets every candidate built so far (to measure a cold solve again on the same loaded index). */
  clearCache() {
    /** @type {(Candidate | null | undefined)[]} per stanza: its candidate, null when skipped, undefined before */
    this.built = new Array(this.starts.length);
    /** @type {Map<string, readonly Candidate[]>} */
    this.byNameCache = new Map();
    /** @type {Map<string, readonly Candidate[]>} */
    this.providersCache = new Map();
  }

  /** The package name of stanza `k`. @param {number} k */
  stanzaName(k) {
    const s = this.names.start[k];
    return this.buf.latin1Slice(s, s + this.names.len[k]);
  }

  /** The raw text of stanza `k`. @param {number} k */
  stanza(k) {
    const e = k + 1 < this.starts.length ? this.starts[k + 1] : this.buf.length;
    return this.buf.latin1Slice(this.starts[k], e);
  }

  /** Every package name, in index order (duplicates once). */
  allNames() {
    const seen = new Set();
    for (let k = 0; k < this.starts.length; k++) seen.add(this.stanzaName(k));
    return [...seen];
  }

  /** Number of distinct virtual names (names some package provides). */
  virtualCount() {
    return this.providers.distinct(this.buf);
  }

  /** Candidates whose own name is `name`, newest first. @param {string} name @returns {readonly Candidate[]} */
  byName(name) {
    let list = this.byNameCache.get(name);
    if (list !== undefined) return list;
    const ks = this.names.find(this.buf, name);
    /** @type {Candidate[]} */
    const cs = [];
    for (const k of ks) {
      const c = this.candidate(k);
      if (c !== null && !cs.some((o) => o.version === c.version)) cs.push(c);
    }
    if (cs.length > 1) cs.sort((a, b) => compareVersions(b.version, a.version));
    list = cs.length === 0 ? NONE : cs;
    this.byNameCache.set(name, list);
    return list;
  }

  /** Candidates providing the virtual name `name` (not those named so), in index order. @param {string} name */
  providersOf(name) {
    let list = this.providersCache.get(name);
    if (list !== undefined) return list;
    /** @type {Candidate[]} */
    const cs = [];
    for (const k of this.providers.find(this.buf, name)) {
      const c = this.candidate(k);
      if (c !== null && (cs.length === 0 || cs[cs.length - 1] !== c)) cs.push(c);
    }
    list = cs.length === 0 ? NONE : cs;
    this.providersCache.set(name, list);
    return list;
  }

  /** Names of the stanzas whose `Priority` is `priority` (for example "important"), in index order. */
  namesWithPriority(priority) {
    const needle = Buffer.from(`\nPriority: ${priority}\n`, 'latin1');
    const names = new Set();
    let k = 0;
    for (let q = this.buf.indexOf(needle); q >= 0; q = this.buf.indexOf(needle, q + 1)) {
      while (k + 1 < this.starts.length && this.starts[k + 1] < q) k++;
      if (this.candidate(k) !== null) names.add(this.stanzaName(k));
    }
    return [...names];
  }

  /** One requirement per name, with no version constraint: an install job. @param {readonly string[]} names */
  job(names) {
    return names.map(
      (name) => /** @type {Requirement} */ ({ alternatives: [{ name, range: ANY }], text: name }),
    );
  }

  /** Builds (once) the candidate of stanza `k`; null when it is for another architecture. @param {number} k */
  candidate(k) {
    const done = this.built[k];
    if (done !== undefined) return done;
    const text = this.stanza(k);
    let name = '';
    let version = '';
    let arch = '';
    /** @type {string[]} */
    const depends = [];
    /** @type {string[]} */
    const conflicts = [];
    let provides = '';
    for (let p = 0; p < text.length;) {
      let eol = text.indexOf('\n', p);
      if (eol < 0) eol = text.length;
      if (eol === p) break; // blank line: end of stanza
      const c = text.charCodeAt(p);
      if (c === 0x50 /* P */) {
        if (text.startsWith('Package: ', p)) name = text.slice(p + 9, eol).trim();
        else if (text.startsWith('Pre-Depends: ', p)) depends.push(fieldValue(text, p + 13));
        else if (text.startsWith('Provides: ', p)) provides = fieldValue(text, p + 10);
      } else if (c === 0x56 /* V */) {
        if (text.startsWith('Version: ', p)) version = text.slice(p + 9, eol).trim();
      } else if (c === 0x41 /* A */) {
        if (text.startsWith('Architecture: ', p)) arch = text.slice(p + 14, eol).trim();
      } else if (c === 0x44 /* D */) {
        if (text.startsWith('Depends: ', p)) depends.push(fieldValue(text, p + 9));
      } else if (c === 0x43 /* C */) {
        if (text.startsWith('Conflicts: ', p)) conflicts.push(fieldValue(text, p + 11));
      } else if (c === 0x42 /* B */) {
        if (text.startsWith('Breaks: ', p)) conflicts.push(fieldValue(text, p + 8));
      }
      p = eol + 1;
    }
    if (arch !== 'all' && arch !== this.arch) {
      this.built[k] = null;
      return null;
    }
    /** @type {Requirement[]} */
    const reqs = [];
    for (const field of depends) readRelations(field, reqs, DEPENDS, name);
    /** @type {Term[]} */
    const confl = [];
    for (const field of conflicts) readRelations(field, confl, CONFLICTS, name);
    /** @type {Provision[]} */
    const prov = [];
    if (provides !== '') readRelations(provides, prov, PROVIDES_KIND, name);
    /** @type {Candidate} */
    const cand = {
      name,
      slot: '0',
      version,
      depends: reqs.length === 0 ? NONE : reqs,
      conflicts: confl.length === 0 ? NONE : confl,
      provides: prov.length === 0 ? NONE : prov,
    };
    this.built[k] = cand;
    return cand;
  }
}

/** A Depends clause; its text (for explanations) is cut from the field only when asked for. */
class Clause {
  /**
   * @param {Term[]} alternatives
   * @param {string} field
   * @param {number} start
   * @param {number} end
   */
  constructor(alternatives, field, start, end) {
    this.alternatives = alternatives;
    this.field = field;
    this.start = start;
    this.end = end;
    /** @type {string | undefined} */
    this.cut = undefined;
  }

  get text() {
    this.cut ??= this.field.slice(this.start, this.end).trim();
    return this.cut;
  }
}

const DEPENDS = 0;
const CONFLICTS = 1;
const PROVIDES_KIND = 2;

/**
 * One relation item and its separator: name, optional architecture qualifier (dropped), optional
 * `(op version)`, optional architecture list and build profiles (source packages only; dropped), then `,`, `|`
 * or the end. A sticky regular expression: compiled to native code once, it parses faster than a character
 * loop while the JIT is still cold, which is when a command-line solve runs.
 */
const RELATION =
  /[ \t\n]*([^ \t\n,|(:[<]*)(?::[^ \t\n,|([<]*)?[ \t]*(?:\([ \t]*(<<|<=|>=|>>|=|<|>)[ \t]*([^ \t)]+)[ \t]*\))?[ \t]*(?:\[[^\]]*\][ \t]*)?(?:<[^>]*>[ \t]*)*([,|]|$)/y;

/** Debian operators → the solver's; the obsolete `<` and `>` mean `<=` and `>=` (as dpkg reads them). */
const OPS = /** @type {Record<string, '<' | '<=' | '=' | '>=' | '>'>} */ ({
  '<<': '<',
  '<=': '<=',
  '<': '<=',
  '=': '=',
  '>=': '>=',
  '>': '>=',
  '>>': '>',
});

/**
 * Reads a relation field (`a (>= 1) | b:any, c`) appending to `out`: requirements (DEPENDS), terms (CONFLICTS:
 * those naming `own` dropped) or provisions (PROVIDES_KIND: `(= v)` kept as the version; `own` dropped).
 * @param {string} s
 * @param {any[]} out
 * @param {number} kind
 * @param {string} own
 */
function readRelations(s, out, kind, own) {
  RELATION.lastIndex = 0;
  /** @type {Term[]} */
  let alts = [];
  let clauseStart = 0;
  for (;;) {
    const at = RELATION.lastIndex;
    const m = RELATION.exec(s);
    if (m === null) throw new Error(`cannot read the relations at ${at} in "${s}"`);
    const name = m[1];
    /** @type {VersionRange} */
    const range = m[2] === undefined ? ANY : [{ op: OPS[m[2]], version: /** @type {any} */ (m[3]) }];
    const sep = m[4];
    if (kind === DEPENDS) {
      if (name !== '') alts.push({ name, range });
      if (sep !== '|') {
        if (alts.length > 0) out.push(new Clause(alts, s, clauseStart, RELATION.lastIndex - sep.length));
        alts = [];
        clauseStart = RELATION.lastIndex;
      }
    } else if (name !== '' && name !== own) {
      if (kind === CONFLICTS) out.push({ name, range });
      else if (range.length === 1 && range[0].op === '=') out.push({ name, version: range[0].version });
      else out.push({ name });
    }
    if (sep === '' || RELATION.lastIndex >= s.length) break;
  }
}

/** The value of the field whose value starts at `p`, including continuation lines. */
function fieldValue(text, p) {
  let e = text.indexOf('\n', p);
  while (e >= 0 && (text.charCodeAt(e + 1) === 0x20 || text.charCodeAt(e + 1) === 0x09))
    e = text.indexOf('\n', e + 1);
  const v = text.slice(p, e < 0 ? text.length : e);
  return v.includes('\n') ? v.replace(/\n[ \t]+/g, ' ') : v;
}

/** Reads the index at `path` and builds the source; returns it with the time each step took (ms). */
export function loadDebianIndex(path, options = {}) {
  const t0 = performance.now();
  const data = readIndex(path);
  const t1 = performance.now();
  const index = new DebianIndex(data, options);
  const t2 = performance.now();
  return { index, readMs: t1 - t0, parseMs: t2 - t1 };
}
