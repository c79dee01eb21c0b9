import { AppError, isAppError } from '../core/index.js';
import { locateField, parseDepSpec, parseTomlText, type DepSpec, type FieldPath } from '../recipe/index.js';
import { parseHosts, type FleetSettings, type ManifestHost } from './hosts.js';

/** `ferry.toml`: the project's ports trees and named profiles, each a set of requests with option overrides. */
export interface Manifest {
  readonly file: string;
  /** Ports trees in priority order: paths relative to the manifest's directory, or "builtin". */
  readonly ports: readonly string[];
  readonly profiles: ReadonlyMap<string, ManifestProfile>;
  /** `[hosts.NAME]`: where profiles are deployed, in file order. */
  readonly hosts: readonly ManifestHost[];
  readonly fleet: FleetSettings;
  /** Tables other modules own (audit), kept as data so this reader does not reject them. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface ManifestProfile {
  readonly name: string;
  readonly packages: readonly DepSpec[];
  /** Per package name: options forced on (`+x`) or off (`-x`). */
  readonly options: Readonly<Record<string, Readonly<Record<string, boolean>>>>;
  /** Line of each request in the manifest, for explanations. */
  readonly lines: readonly number[];
}

const TOP = ['ports', 'profiles', 'hosts', 'fleet', 'audit'];
const PROFILE_KEYS = ['packages', 'options'];
const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

export function parseManifest(text: string, file: string): Manifest {
  const doc = parseTomlText(text, file, 'E_MANIFEST_SYNTAX');
  const fail = (path: FieldPath, message: string, hint: string): never => {
    const pos = locateField(text, path);
    const field = path.join('.');
    throw new AppError('E_MANIFEST_FIELD', `${file}:${pos.line}:${pos.column}: field ${field}: ${message}`, {
      hint,
      details: { file, line: pos.line, column: pos.column, field },
    });
  };
  for (const k of Object.keys(doc))
    if (!TOP.includes(k)) fail([k], `unknown field "${k}"`, `ferry.toml has: ${TOP.join(', ')}`);
  const ports = doc.ports ?? ['builtin'];
  if (!Array.isArray(ports) || ports.some((p) => typeof p !== 'string'))
    fail(['ports'], 'expected a list of directories', 'e.g. ports = ["ports", "builtin"]');
  const profilesT = doc.profiles ?? {};
  if (typeof profilesT !== 'object' || Array.isArray(profilesT))
    fail(['profiles'], 'expected tables', 'use [profiles.NAME]');
  const profiles = new Map<string, ManifestProfile>();
  for (const [name, value] of Object.entries(profilesT as Record<string, unknown>)) {
    if (!NAME_RE.test(name))
      fail(['profiles', name], `profile name "${name}" is not allowed`, 'use a-z, 0-9, . _ -');
    profiles.set(name, readProfile(text, name, value, fail));
  }
  const extra = Object.fromEntries(Object.entries(doc).filter(([k]) => k === 'hosts' || k === 'audit'));
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) || '/' : '.';
  const { hosts, fleet } = parseHosts({
    hosts: doc.hosts,
    fleet: doc.fleet,
    profiles: new Set(profiles.keys()),
    text,
    file,
    dir,
  });
  return { file, ports: ports as string[], profiles, hosts, fleet, extra };
}

type Fail = (path: FieldPath, message: string, hint: string) => never;

function readProfile(text: string, name: string, value: unknown, fail: Fail): ManifestProfile {
  const path = ['profiles', name];
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(path, 'expected a table', `write [profiles.${name}]`);
  const t = value as Record<string, unknown>;
  for (const k of Object.keys(t))
    if (!PROFILE_KEYS.includes(k))
      fail([...path, k], `unknown field "${k}"`, `a profile has: ${PROFILE_KEYS.join(', ')}`);
  const pkgs = t.packages ?? [];
  if (!Array.isArray(pkgs))
    return fail([...path, 'packages'], 'expected a list of dependency strings', 'e.g. packages = ["nginx"]');
  const packages = pkgs.map((p: unknown, i) => {
    if (typeof p !== 'string') return fail([...path, 'packages', i], 'expected a string', 'quote it');
    try {
      return parseDepSpec(p);
    } catch (e) {
      if (!isAppError(e)) throw e;
      return fail([...path, 'packages', i], e.message, e.hint ?? 'see docs/formats/recipe.md');
    }
  });
  const lines = packages.map((_p, i) => locateField(text, ['profiles', name, 'packages', i]).line);
  return { name, packages, options: readOptions(t.options, [...path, 'options'], fail), lines };
}

function readOptions(value: unknown, path: FieldPath, fail: Fail): Record<string, Record<string, boolean>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(
      path,
      'expected a table of package = ["+opt", "-opt"]',
      'e.g. options = { nginx = ["+uwsgi", "-ssl"] }',
    );
  const out: Record<string, Record<string, boolean>> = {};
  for (const [pkg, list] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(list))
      return fail(
        [...path, pkg],
        'expected a list like ["+ssl", "-uwsgi"]',
        'prefix each option with + or -',
      );
    const opts: Record<string, boolean> = {};
    for (const item of list) {
      if (typeof item !== 'string' || !/^[+-][a-z][a-z0-9_-]*$/.test(item))
        return fail(
          [...path, pkg],
          `"${String(item)}" is not +option or -option`,
          'e.g. "+uwsgi" turns uwsgi on, "-ssl" off',
        );
      opts[item.slice(1)] = item.startsWith('+');
    }
    out[pkg] = opts;
  }
  return out;
}
