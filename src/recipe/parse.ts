import { parse as parseToml, TomlError } from 'smol-toml';
import { AppError, isAppError, sha256Bytes, tryParseSha256, type Code } from '../core/index.js';
import { tryParseVersion } from '../version/index.js';
import { parseConditional, parseDepSpec, type DepSpec } from './depspec.js';
import { locateField, type FieldPath } from './locate.js';
import {
  buildSystems,
  type BuildSystem,
  type Conditional,
  type OptionDecl,
  type Recipe,
  type Source,
} from './types.js';

type Table = Record<string, unknown>;

const NAME_RE = /^[a-z0-9][a-z0-9+._-]*$/;
const SLOT_RE = /^[A-Za-z0-9._+-]+$/;
const OPTION_RE = /^[a-z][a-z0-9_-]*$/;

const KNOWN: Readonly<Record<string, readonly string[]>> = {
  '': [
    'name',
    'version',
    'slot',
    'summary',
    'license',
    'homepage',
    'source',
    'options',
    'depends',
    'build',
    'audit',
  ],
  source: ['url', 'sha256', 'path'],
  depends: ['build', 'run', 'conflicts', 'provides'],
  build: ['system', 'configure-args', 'env', 'script'],
  audit: ['names', 'cpe'],
};

/**
 * Parse and validate one recipe. Pure: the caller reads the file. `expect` carries what the file's
 * location promises (`<tree>/<name>/<version>.toml`), which the content must match.
 */
export function parseRecipe(text: string, file: string, expect?: { name: string; version: string }): Recipe {
  const v = new Validator(text, file);
  const doc = v.toml();
  v.unknownKeys(doc, [], KNOWN['']);
  const name = v.string(doc, ['name'], {
    pattern: NAME_RE,
    expected: 'a lowercase package name like "zlib"',
  });
  const version = v.string(doc, ['version'], { expected: 'a version like "1.2.13"' });
  if (tryParseVersion(version) === undefined)
    v.fail(
      ['version'],
      `"${version}" is not a valid version`,
      'use digits, letters and . + ~ -, starting with a digit',
    );
  if (expect !== undefined && name !== expect.name)
    v.fail(['name'], `name "${name}" does not match the directory "${expect.name}"`, `rename one of them`);
  if (expect !== undefined && version !== expect.version)
    v.fail(
      ['version'],
      `version "${version}" does not match the file name "${expect.version}.toml"`,
      'rename one',
    );
  const options = v.options(doc);
  const dependsT = v.table(doc, ['depends']);
  v.unknownKeys(dependsT, ['depends'], KNOWN.depends);
  const buildT = v.table(doc, ['build']);
  v.unknownKeys(buildT, ['build'], KNOWN.build);
  const auditT = v.table(doc, ['audit']);
  v.unknownKeys(auditT, ['audit'], KNOWN.audit);
  const optionNames = new Set(Object.keys(options));
  const lines: Record<string, number> = {};
  const deps = (key: string): DepSpec[] =>
    v.stringList(dependsT, ['depends', key]).map((s, i) => {
      const spec = v.depSpec(s, ['depends', key, i], optionNames);
      lines[`${key}:${s}`] = locateField(text, ['depends', key, i]).line;
      return spec;
    });
  const system = v.optionalString(buildT, ['build', 'system']) ?? 'autotools';
  if (!buildSystems.includes(system as BuildSystem))
    v.fail(['build', 'system'], `unknown build system "${system}"`, `use one of: ${buildSystems.join(', ')}`);
  const script = v.optionalString(buildT, ['build', 'script']);
  if (system === 'script' && script === undefined)
    v.fail(
      ['build', 'system'],
      'system = "script" needs a [build] script',
      'add script = "…" (sh, run in the source)',
    );
  const cpe = v.optionalString(auditT, ['audit', 'cpe']);
  return {
    name,
    version: version as Recipe['version'],
    slot: v.optionalString(doc, ['slot'], SLOT_RE) ?? '0',
    summary: v.optionalString(doc, ['summary']) ?? '',
    license: v.optionalString(doc, ['license']) ?? '',
    homepage: v.optionalString(doc, ['homepage']) ?? '',
    sources: v.sources(doc),
    options,
    depends: {
      build: deps('build'),
      run: deps('run'),
      conflicts: deps('conflicts'),
      provides: v.stringList(dependsT, ['depends', 'provides']),
    },
    build: {
      system: system as BuildSystem,
      configureArgs: v
        .stringList(buildT, ['build', 'configure-args'])
        .map((s, i) => v.conditional(s, ['build', 'configure-args', i], optionNames)),
      env: v.stringMap(buildT, ['build', 'env']),
      ...(script === undefined ? {} : { script }),
    },
    audit: { names: v.stringList(auditT, ['audit', 'names']), ...(cpe === undefined ? {} : { cpe }) },
    file,
    recipeHash: sha256Bytes(text),
    lines,
  };
}

/**
 * Parse any ferry TOML file (recipes, manifests, lockfiles); syntax errors name file:line:column. The one place
 * the TOML library is used.
 */
export function parseTomlText(
  text: string,
  file: string,
  code: Code = 'E_RECIPE_SYNTAX',
): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const first = e.message.split('\n')[0] ?? e.message;
    throw new AppError(code, `${file}:${e.line}:${e.column}: ${first}`, {
      hint: 'the file must be TOML 1.0; check quotes, brackets and commas near that position',
      details: { file, line: e.line, column: e.column },
      cause: e,
    });
  }
}

/** Turns each shape mismatch into an AppError that names file:line:column, the field and what was expected. */
class Validator {
  private readonly text: string;
  private readonly file: string;
  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  fail(path: FieldPath, message: string, hint: string, columnOffset = 0): never {
    const pos = locateField(this.text, path);
    const field = fieldName(path);
    const where = `${this.file}:${pos.line}:${pos.column + columnOffset}`;
    throw new AppError('E_RECIPE_FIELD', `${where}: field ${field}: ${message}`, {
      hint,
      details: { file: this.file, line: pos.line, column: pos.column + columnOffset, field },
    });
  }

  toml(): Table {
    return parseTomlText(this.text, this.file);
  }

  unknownKeys(t: Table, path: FieldPath, known: readonly string[] | undefined): void {
    for (const k of Object.keys(t)) {
      if (known?.includes(k)) continue;
      const close = known?.find((c) => editDistance(c, k) <= 2);
      this.fail(
        [...path, k],
        `unknown field "${k}"`,
        close ? `did you mean "${close}"?` : `known: ${known?.join(', ')}`,
      );
    }
  }

  table(t: Table, path: FieldPath): Table {
    const value = t[String(path[path.length - 1])];
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, `expected a table, found ${describe(value)}`, `write it as [${fieldName(path)}]`);
    return value as Table;
  }

  string(t: Table, path: FieldPath, opts: { pattern?: RegExp; expected: string }): string {
    const value = t[String(path[path.length - 1])];
    if (value === undefined) this.fail(path, 'is required', `add ${fieldName(path)} = …: ${opts.expected}`);
    if (typeof value !== 'string')
      this.fail(path, `expected a string, found ${describe(value)}`, opts.expected);
    if (opts.pattern !== undefined && !opts.pattern.test(value))
      this.fail(path, `"${value}" is not allowed`, `expected ${opts.expected}`);
    return value;
  }

  optionalString(t: Table, path: FieldPath, pattern?: RegExp): string | undefined {
    const value = t[String(path[path.length - 1])];
    if (value === undefined) return undefined;
    if (typeof value !== 'string')
      this.fail(path, `expected a string, found ${describe(value)}`, 'quote the value');
    if (pattern !== undefined && !pattern.test(value))
      this.fail(path, `"${value}" is not allowed`, `match ${pattern}`);
    return value;
  }

  stringList(t: Table, path: FieldPath): string[] {
    const value = t[String(path[path.length - 1])];
    if (value === undefined) return [];
    if (!Array.isArray(value))
      this.fail(path, `expected a list of strings, found ${describe(value)}`, 'use ["…"]');
    value.forEach((item, i) => {
      if (typeof item !== 'string')
        this.fail([...path, i], `expected a string, found ${describe(item)}`, 'quote each element');
    });
    return value as string[];
  }

  stringMap(t: Table, path: FieldPath): Record<string, string> {
    const m = this.table(t, path);
    for (const [k, val] of Object.entries(m))
      if (typeof val !== 'string')
        this.fail(path, `${k} must be a string, found ${describe(val)}`, `quote it`);
    return m as Record<string, string>;
  }

  depSpec(s: string, path: FieldPath, options: ReadonlySet<string>): DepSpec {
    let spec: DepSpec;
    try {
      spec = parseDepSpec(s);
    } catch (e) {
      if (!isAppError(e)) throw e;
      const col = typeof e.details.column === 'number' ? e.details.column : 1;
      return this.fail(path, e.message, e.hint ?? 'see docs/formats/recipe.md for the grammar', col - 1);
    }
    this.checkCondition(spec.condition, path, options);
    return spec;
  }

  conditional(s: string, path: FieldPath, options: ReadonlySet<string>): Conditional {
    const c = parseConditional(s);
    this.checkCondition(c.condition, path, options);
    return c.condition === undefined ? { value: c.value } : { value: c.value, condition: c.condition };
  }

  private checkCondition(c: Conditional['condition'], path: FieldPath, options: ReadonlySet<string>): void {
    if (c !== undefined && !options.has(c.option))
      this.fail(
        path,
        `condition names option "${c.option}", which is not declared`,
        `declare it under [options]`,
      );
  }

  options(doc: Table): Record<string, OptionDecl> {
    const t = this.table(doc, ['options']);
    const out: Record<string, OptionDecl> = {};
    for (const [k, val] of Object.entries(t)) {
      if (!OPTION_RE.test(k))
        this.fail(['options', k], `option name "${k}" is not allowed`, 'use lowercase a-z0-9_-');
      if (typeof val !== 'object' || val === null || Array.isArray(val))
        this.fail(
          ['options', k],
          `expected { default = true|false, summary = "…" }`,
          'write it as an inline table',
        );
      const o = val as Table;
      if (typeof o.default !== 'boolean')
        this.fail(['options', k], `option "${k}" needs default = true or false`, 'add default = false');
      for (const extra of Object.keys(o))
        if (extra !== 'default' && extra !== 'summary')
          this.fail(
            ['options', k],
            `unknown key "${extra}" in option "${k}"`,
            'an option has default and summary',
          );
      out[k] = { default: o.default, summary: typeof o.summary === 'string' ? o.summary : '' };
    }
    return out;
  }

  sources(doc: Table): Source[] {
    const list = doc.source;
    if (list === undefined) return [];
    if (!Array.isArray(list))
      this.fail(['source'], 'expected [[source]] tables', 'write each source as [[source]]');
    return list.map((item: unknown, i) => this.source(item, i));
  }

  private source(item: unknown, i: number): Source {
    if (typeof item !== 'object' || item === null)
      this.fail(['source', i], 'expected a table', 'use [[source]]');
    const t = item as Table;
    this.unknownKeys(t, ['source', i], KNOWN.source);
    const sha = this.optionalString(t, ['source', i, 'sha256']);
    const hash = sha === undefined ? undefined : tryParseSha256(sha);
    if (sha !== undefined && hash === undefined)
      this.fail(['source', i, 'sha256'], `"${sha}" is not a sha256`, 'expected 64 lowercase hex digits');
    const path = this.optionalString(t, ['source', i, 'path']);
    const url = this.optionalString(t, ['source', i, 'url']);
    if ((path === undefined) === (url === undefined))
      this.fail(
        ['source', i],
        'a source needs exactly one of url or path',
        'url = "…" with sha256, or path = "…"',
      );
    if (path !== undefined) {
      if (path.startsWith('/') || path.split('/').includes('..'))
        this.fail(['source', i, 'path'], `"${path}" leaves the recipe's directory`, 'use a path inside it');
      return hash === undefined ? { kind: 'path', path } : { kind: 'path', path, sha256: hash };
    }
    const u = url ?? '';
    if (hash === undefined)
      this.fail(['source', i], `url source has no sha256`, 'add sha256 = "…" (sha256sum FILE)');
    const fileName = urlFileName(u);
    if (fileName === undefined)
      this.fail(['source', i, 'url'], `"${u}" is not an http(s) URL ending in a file name`, 'check the URL');
    return { kind: 'url', url: u, sha256: hash, fileName };
  }
}

function urlFileName(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:' && u.protocol !== 'file:') return undefined;
    const name = decodeURIComponent(u.pathname.split('/').pop() ?? '');
    return /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

function fieldName(path: FieldPath): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : p))
    .join('.')
    .replace(/\.\[/g, '[');
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] ?? 0;
      d[j] = Math.min((d[j] ?? 0) + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] ?? 0;
}
