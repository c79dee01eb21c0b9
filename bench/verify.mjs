// @ts-check
/**
 * An independent check of an install set against a Debian `Packages` file. It shares no code with ferry's
 * solver nor with the adapter (bench/debian-index.mjs): it splits the file into stanzas with a regular
 * expression and reads relations with its own parser. Only the version comparison (dpkg order) comes from
 * ferry's `dist/version`.
 *
 * A solution (a set of `name=version`) passes when:
 * - every entry is a package of the index (at that version, for the wanted architecture or `all`);
 * - there is one version per name;
 * - every requested name is installed, or provided by an installed package;
 * - every Depends and Pre-Depends clause of every installed package has an alternative satisfied by an
 *   installed package: by its name and version, or by its Provides (an unversioned clause accepts any
 *   provider; a versioned one only a provider `(= v)` with v in range, as dpkg);
 * - no installed package's Conflicts or Breaks matches another installed package (by name and version, or
 *   by Provides, same rules); a package never conflicts with itself.
 * It also counts installed packages no requested name leads to through satisfied dependencies ("unneeded").
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { compareVersions } from '../dist/version/index.js';

/**
 * @typedef {{ name: string, op?: string, version?: string }} Rel
 * @typedef {{ name: string, version: string, depends: Rel[][], conflicts: Rel[], provides: Rel[] }} Pkg
 * @typedef {{ ok: boolean, count: number, errors: string[], unneeded: string[] }} Verdict
 */

const REL =
  /^\s*([A-Za-z0-9][A-Za-z0-9+.~_-]*)(?::[A-Za-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

/** Reads one relation, `name[:arch] [(op version)]`. @param {string} s @returns {Rel} */
function rel(s) {
  const m = REL.exec(s);
  if (m === null) throw new Error(`verify: cannot read relation "${s}"`);
  return m[2] === undefined ? { name: m[1] } : { name: m[1], op: m[2], version: m[3] };
}

/** @param {string} v @param {string} op @param {string} w */
function holds(v, op, w) {
  const c = compareVersions(v, w);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
    case '<': // obsolete spelling of <=
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
    case '>': // obsolete spelling of >=
      return c >= 0;
    case '>>':
      return c > 0;
    default:
      throw new Error(`verify: unknown operator ${op}`);
  }
}

export class Verifier {
  /**
   * @param {string} text the whole `Packages` file
   * @param {string} [arch]
   */
  constructor(text, arch = 'amd64') {
    /** @type {Map<string, string>} `name=version` → stanza text */
    this.stanzas = new Map();
    /** @type {Map<string, Pkg>} */
    this.parsed = new Map();
    for (const stanza of text.split(/\n\n+/)) {
      const name = /^Package: *(\S+)/m.exec(stanza)?.[1];
      const version = /^Version: *(\S+)/m.exec(stanza)?.[1];
      const a = /^Architecture: *(\S+)/m.exec(stanza)?.[1];
      if (name === undefined || version === undefined) continue;
      if (a !== 'all' && a !== arch) continue;
      this.stanzas.set(`${name}=${version}`, stanza);
    }
  }

  /** Reads a `Packages` file, plain or compressed (through `apt-helper cat-file`). @param {string} path */
  static fromFile(path, arch = 'amd64') {
    const text = /\.(lz4|gz|xz|zst|bz2)$/.test(path)
      ? execFileSync('/usr/lib/apt/apt-helper', ['cat-file', path], { maxBuffer: 1 << 30 }).toString('utf8')
      : readFileSync(path, 'utf8');
    return new Verifier(text, arch);
  }

  /** @param {string} key `name=version` @returns {Pkg | undefined} */
  pkg(key) {
    let p = this.parsed.get(key);
    if (p !== undefined) return p;
    const stanza = this.stanzas.get(key);
    if (stanza === undefined) return undefined;
    /** @type {Map<string, string>} */
    const fields = new Map();
    for (const m of stanza.matchAll(/^([A-Za-z0-9-]+):[ \t]*(.*(?:\n[ \t].*)*)/gm))
      fields.set(m[1], m[2].replace(/\n[ \t]+/g, ' '));
    const list = (/** @type {string} */ f) =>
      (fields.get(f) ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    const eq = key.indexOf('=');
    p = {
      name: key.slice(0, eq),
      version: key.slice(eq + 1),
      depends: [...list('Depends'), ...list('Pre-Depends')].map((c) => c.split('|').map(rel)),
      conflicts: [...list('Conflicts'), ...list('Breaks')].map(rel),
      provides: list('Provides').map(rel),
    };
    this.parsed.set(key, p);
    return p;
  }

  /**
   * Checks an install set.
   * @param {Iterable<string>} solution entries `name=version`
   * @param {readonly string[]} requested names that must be installed (or provided)
   * @returns {Verdict}
   */
  verify(solution, requested) {
    /** @type {string[]} */
    const errors = [];
    /** @type {Map<string, Pkg>} name → installed package */
    const installed = new Map();
    for (const key of solution) {
      const p = this.pkg(key);
      if (p === undefined) {
        errors.push(`${key} is not in the index`);
        continue;
      }
      const other = installed.get(p.name);
      if (other !== undefined) errors.push(`two versions of ${p.name}: ${other.version} and ${p.version}`);
      installed.set(p.name, p);
    }
    /** @type {Map<string, { pkg: Pkg, version?: string }[]>} virtual name → installed providers */
    const provided = new Map();
    for (const p of installed.values())
      for (const v of p.provides) {
        const list = provided.get(v.name) ?? [];
        list.push({ pkg: p, version: v.op === '=' ? v.version : undefined });
        provided.set(v.name, list);
      }
    /** Installed packages matching a relation, other than `self`. @param {Rel} r @param {Pkg} [self] */
    const matches = (r, self) => {
      /** @type {Pkg[]} */
      const out = [];
      const p = installed.get(r.name);
      if (
        p !== undefined &&
        p !== self &&
        (r.op === undefined || holds(p.version, r.op, /** @type {string} */ (r.version)))
      )
        out.push(p);
      for (const q of provided.get(r.name) ?? [])
        if (
          q.pkg !== self &&
          (r.op === undefined ||
            (q.version !== undefined && holds(q.version, r.op, /** @type {string} */ (r.version))))
        )
          out.push(q.pkg);
      return out;
    };
    for (const name of requested)
      if (matches({ name }).length === 0) errors.push(`requested ${name} is not installed`);
    for (const p of installed.values()) {
      for (const clause of p.depends)
        if (!clause.some((r) => matches(r).length > 0))
          errors.push(`${p.name} ${p.version}: unsatisfied ${clause.map(fmt).join(' | ')}`);
      for (const r of p.conflicts)
        for (const q of matches(r, p))
          if (q.name !== p.name)
            errors.push(
              `${p.name} ${p.version} conflicts with ${fmt(r)}: ${q.name} ${q.version} is installed`,
            );
    }
    // Reachability from the requested names through satisfied dependencies (every satisfying alternative).
    const seen = new Set();
    /** @type {Pkg[]} */
    const todo = requested.flatMap((name) => matches({ name }));
    while (todo.length > 0) {
      const p = /** @type {Pkg} */ (todo.pop());
      if (seen.has(p)) continue;
      seen.add(p);
      for (const clause of p.depends) for (const r of clause) todo.push(...matches(r));
    }
    const unneeded = [...installed.values()].filter((p) => !seen.has(p)).map((p) => `${p.name}=${p.version}`);
    return { ok: errors.length === 0, count: installed.size, errors, unneeded };
  }
}

/** @param {Rel} r */
function fmt(r) {
  return r.op === undefined ? r.name : `${r.name} (${r.op} ${r.version})`;
}
