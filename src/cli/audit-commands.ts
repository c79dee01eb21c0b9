import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import {
  addIgnoreText,
  applyIgnores,
  audit,
  compareAudits,
  cycloneDxBom,
  failing,
  filesDigest,
  indexAdvisories,
  isIsoDate,
  loadAdvisories,
  parseFailOn,
  readAuditConfig,
  spdxDocument,
  type AuditConfig,
  type AuditPackage,
  type Finding,
  type SbomComponent,
  type SourceInfo,
} from '../audit/index.js';
import { AppError, isAppError, isErrno, messageOf } from '../core/index.js';
import { Profile } from '../profile/index.js';
import { parseManifest } from '../resolve/index.js';
import { removeTree, writeFileAtomic } from '../platform/index.js';
import { packageDir, type App } from './app.js';
import { listOption, MANIFEST_OPTION, stringOption, usage } from './args.js';
import type { CommandSpec, Outcome } from './commands.js';
import { hostPackages, hostSelection } from './fleet-commands.js';
import { findManifestFile, openProject } from './project.js';

const FETCH_META = '.ferry-fetch.json';
const FETCH_FORMAT_VERSION = 1;

const MANIFEST_OPT = MANIFEST_OPTION;
const ADVISORIES_OPT = {
  name: 'advisories',
  value: 'PATH',
  repeatable: true,
  help: 'OSV JSON (file, directory or zip) or pkg-vulnerabilities, detected by content (repeatable; default: fetched copies and ferry.toml [audit] sources)',
};

const KEY_OPT = {
  name: 'advisories-key',
  value: 'FILE',
  repeatable: true,
  help: 'an OpenPGP public key (armored or binary) that must have signed every pkg-vulnerabilities file, checked with gpgv (repeatable; default: ferry.toml [audit] keys)',
};

export const AUDIT_COMMANDS: readonly CommandSpec[] = [
  {
    words: ['audit'],
    usage:
      'ferry audit [--profile P…|--lock] [--advisories PATH…] [--fail-on SEVERITY]   |   ferry audit --ignore ID --reason TEXT --until YYYY-MM-DD',
    summary: 'list installed (or locked) packages with known vulnerabilities',
    description:
      'Matches the current generation of each profile (default "default"), or every profile of ferry.lock with --lock, against OSV records and pkgsrc pkg-vulnerabilities. Each finding gives package, version, advisory, severity (from a CVSS v4.0 or v3.x vector when present), the fixed version if known, and where it is. Exit status 1 when a finding is at or above --fail-on (low, medium, high, critical; default any). With --ignore, records an accepted risk in ferry.toml [audit] ignore; it stops applying after --until. Works offline from the copies `ferry audit fetch` made, and says how old they are. pkg-vulnerabilities checksums are always verified; with --advisories-key (or ferry.toml [audit] keys) its PGP signature must verify too.',
    options: [
      {
        name: 'profile',
        value: 'P',
        repeatable: true,
        help: 'a profile to audit (repeatable; default "default")',
      },
      { name: 'lock', help: "audit every profile of the project's ferry.lock instead of installed profiles" },
      {
        name: 'hosts',
        value: 'HOST|GROUP[,…]',
        repeatable: true,
        help: 'audit what the current generations on these hosts of ferry.toml hold ("all" for every host)',
      },
      MANIFEST_OPT,
      ADVISORIES_OPT,
      KEY_OPT,
      {
        name: 'fail-on',
        value: 'SEVERITY',
        help: 'exit 1 only for findings at or above: any, unknown, low, medium, high, critical (default any)',
      },
      {
        name: 'ignore',
        value: 'ID',
        help: 'record an accepted risk for advisory ID (or an alias) in ferry.toml',
      },
      { name: 'reason', value: 'TEXT', help: 'why the risk is accepted (with --ignore)' },
      { name: 'until', value: 'YYYY-MM-DD', help: 'last day the ignore applies (with --ignore)' },
    ],
    run: async (app) =>
      stringOption(app.options, 'ignore') === undefined
        ? auditOutcome(await auditCommand(app))
        : recordIgnore(app),
  },
  {
    words: ['audit', 'fetch'],
    usage: 'ferry audit fetch [URL|PATH…]',
    summary: 'copy advisories into <root>/var/advisories for offline audits',
    description:
      'Without arguments fetches ferry.toml [audit] sources. Each source (an http(s) URL, a file or a directory) is read and checked first, then replaces its previous copy atomically, with the time it was fetched.',
    options: [MANIFEST_OPT, KEY_OPT],
    run: async (app, args) => {
      const r = await fetchCommand(app, args);
      return {
        data: r,
        text: r.fetched.map((f) => `${f.source}: ${f.advisories} advisories → ${f.dir}`),
        exitCode: 0,
      };
    },
  },
  {
    words: ['sbom'],
    usage: 'ferry sbom [--profile P] --format cyclonedx|spdx [-o FILE]',
    summary: "a bill of materials of a profile's closure (CycloneDX 1.5 or SPDX 2.3 JSON)",
    description:
      "Lists every store path of the current generation with its version, license, a sha256 of its files and the packages it depends on. Printed on stdout unless -o is given. Honours SOURCE_DATE_EPOCH for the document's time.",
    options: [
      { name: 'profile', value: 'P', help: 'the profile (default "default")' },
      { name: 'format', value: 'cyclonedx|spdx', help: 'the document format (default cyclonedx)' },
      { name: 'output', short: 'o', value: 'FILE', help: 'write the document to FILE' },
    ],
    run: async (app) => sbomCommand(app),
  },
];

// ---------------------------------------------------------------------------------------------- audit

export interface AuditReport {
  readonly scope: 'profiles' | 'lock' | 'hosts';
  readonly packages: number;
  readonly advisories: number;
  readonly sources: readonly (SourceInfo & { readonly fetchedAt?: string; readonly ageDays?: number })[];
  readonly findings: readonly Finding[];
  readonly ignored: readonly { readonly finding: Finding; readonly reason: string; readonly until: string }[];
  readonly expiredIgnores: readonly { readonly id: string; readonly until: string }[];
  readonly failOn: string;
  readonly failing: number;
  readonly unevaluable: readonly string[];
  readonly notes: readonly string[];
  readonly seconds: number;
}

interface ProjectAudit {
  readonly file: string;
  readonly text: string;
  readonly config: AuditConfig;
}

function readProjectAudit(app: App, required: boolean): ProjectAudit | undefined {
  const file = findManifestFile(app, required);
  if (file === undefined) return undefined;
  const text = readFileSync(file, 'utf8');
  const manifest = parseManifest(text, file);
  return { file, text, config: readAuditConfig(manifest.extra.audit, text, file) };
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

export async function auditCommand(app: App): Promise<AuditReport> {
  const started = performance.now();
  const failOnText = stringOption(app.options, 'fail-on') ?? 'any';
  const failOn = parseFailOn(failOnText);
  if (failOn === undefined)
    throw usage(`--fail-on expects any, unknown, low, medium, high or critical, got "${failOnText}"`);
  const lock = app.options.lock === true;
  const onHosts = hostSelection(app).length > 0;
  if (lock && onHosts) throw usage('audit either --lock or --hosts, not both');
  const project = readProjectAudit(app, lock || onHosts);
  const {
    packages,
    index: recipeIndex,
    unreachable,
  } = onHosts
    ? await hostPackages(app)
    : { ...(lock ? lockPackages(app) : await profilePackages(app)), unreachable: [] };
  const withAliases = packages.map((p) => addAliases(p, recipeIndex));
  const { paths, fetched } = await advisoryPaths(app, project);
  const loaded = await loadAdvisories(paths, { keys: advisoryKeys(app, project) });
  const now = Date.now();
  const sources = loaded.sources.map((s) => {
    const at = fetched.get(s.path);
    return at === undefined
      ? s
      : { ...s, fetchedAt: at, ageDays: Math.floor((now - Date.parse(at)) / 86_400_000) };
  });
  const result = audit(withAliases, indexAdvisories(loaded.advisories));
  const today = new Date(now).toISOString().slice(0, 10);
  const split = applyIgnores(result.findings, project?.config.ignores ?? [], today);
  const fails = failing(split.active, failOn);
  return {
    scope: onHosts ? 'hosts' : lock ? 'lock' : 'profiles',
    packages: packages.length,
    advisories: loaded.advisories.length,
    sources,
    findings: split.active,
    ignored: split.ignored.map((i) => ({
      finding: i.finding,
      reason: i.ignore.reason,
      until: i.ignore.until,
    })),
    expiredIgnores: split.expired.map((i) => ({ id: i.id, until: i.until })),
    failOn: failOnText,
    failing: fails.length,
    unevaluable: result.unevaluable,
    notes: [...loaded.notes, ...unreachable.map((u) => `not audited: ${u}`)],
    seconds: Math.round(performance.now() - started) / 1000,
  };
}

type Index = ReturnType<App['index']>;

async function profilePackages(app: App): Promise<{ packages: AuditPackage[]; index: Index }> {
  const names = listOption(app.options, 'profile');
  const store = await app.store();
  const byKey = new Map<string, { name: string; version: string; where: string[] }>();
  for (const name of names.length > 0 ? names : ['default']) {
    const m = await new Profile(store, name).currentManifest();
    if (m === undefined)
      throw new AppError('E_PROFILE_GENERATION', `profile ${name} has no generations to audit`, {
        hint: 'install something into it first, or audit the project lock with --lock',
      });
    for (const p of m.packages) {
      const k = `${p.name}\0${p.version}`;
      const e = byKey.get(k) ?? { name: p.name, version: p.version, where: [] };
      if (!e.where.includes(name)) e.where.push(name);
      byKey.set(k, e);
    }
  }
  return { packages: [...byKey.values()], index: app.index() };
}

function lockPackages(app: App): { packages: AuditPackage[]; index: Index } {
  const file = findManifestFile(app, true) ?? '';
  const project = openProject(app, file);
  if (project.lock === undefined)
    throw new AppError('E_LOCK_FORMAT', `${project.lockFile} does not exist`, {
      hint: 'write it with ferry lock',
    });
  const byKey = new Map<string, { name: string; version: string; where: string[] }>();
  for (const prof of project.lock.profiles)
    for (const p of prof.packages) {
      const k = `${p.name}\0${p.version}`;
      const e = byKey.get(k) ?? { name: p.name, version: p.version, where: [] };
      const where = `lock:${prof.name}`;
      if (!e.where.includes(where)) e.where.push(where);
      byKey.set(k, e);
    }
  return { packages: [...byKey.values()], index: project.app.index() };
}

/** The recipe's `[audit] names` and `cpe`, when the recipe of that exact version is still in a ports tree. */
function addAliases(p: AuditPackage, index: Index): AuditPackage {
  let recipes;
  try {
    recipes = index.candidates(p.name);
  } catch (e) {
    if (isAppError(e)) return p;
    throw e;
  }
  const r = recipes.find((x) => x.version === p.version) ?? recipes[0];
  if (r === undefined) return p;
  return { ...p, aliases: r.audit.names, ...(r.audit.cpe === undefined ? {} : { cpe: r.audit.cpe }) };
}

function advisoriesDir(app: App): string {
  return join(app.ctx.rootDir, 'var', 'advisories');
}

/** --advisories-key; else ferry.toml's `[audit] keys`, relative to the file. */
function advisoryKeys(app: App, project: ProjectAudit | undefined): string[] {
  const given = listOption(app.options, 'advisories-key');
  if (given.length > 0) return given.map((p) => resolvePath(p));
  return (project?.config.keys ?? []).map((k) => resolvePath(dirname(project?.file ?? ''), k));
}

/** --advisories; else fetched copies plus ferry.toml's local sources. Fetched copies carry their fetch time. */
async function advisoryPaths(
  app: App,
  project: ProjectAudit | undefined,
): Promise<{ paths: string[]; fetched: Map<string, string> }> {
  const given = listOption(app.options, 'advisories');
  const fetched = new Map<string, string>();
  if (given.length > 0) return { paths: given.map((p) => resolvePath(p)), fetched };
  const paths: string[] = [];
  const dir = advisoriesDir(app);
  let names: string[] = [];
  try {
    names = (await fs.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  for (const n of names) {
    const meta = await readFetchMeta(join(dir, n));
    if (meta === undefined) continue;
    paths.push(join(dir, n));
    fetched.set(join(dir, n), meta.fetchedAt);
  }
  const fetchedSources = new Set(
    await Promise.all(paths.map(async (p) => (await readFetchMeta(p))?.source ?? '')),
  );
  for (const s of project?.config.sources ?? []) {
    if (isUrl(s)) {
      if (!fetchedSources.has(s))
        throw new AppError('E_ADVISORY_MISSING', `advisory source ${s} has not been fetched yet`, {
          hint: 'run ferry audit fetch (it copies [audit] sources for offline use)',
        });
      continue;
    }
    const abs = resolvePath(dirname(project?.file ?? ''), s);
    if (!fetchedSources.has(abs)) paths.push(abs);
  }
  if (paths.length === 0)
    throw new AppError('E_ADVISORY_MISSING', 'no advisories to audit against', {
      hint: 'ferry audit fetch URL (or a PATH), list sources in ferry.toml [audit] sources, or pass --advisories PATH',
    });
  return { paths, fetched };
}

interface FetchMeta {
  readonly formatVersion: number;
  readonly source: string;
  readonly fetchedAt: string;
}

async function readFetchMeta(dir: string): Promise<FetchMeta | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, FETCH_META), 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
    throw e;
  }
  const m = JSON.parse(text) as FetchMeta;
  if (m.formatVersion > FETCH_FORMAT_VERSION)
    throw new AppError(
      'E_STORE_FORMAT',
      `${join(dir, FETCH_META)} has formatVersion ${m.formatVersion}; this ferry reads up to ${FETCH_FORMAT_VERSION}`,
      {
        hint: 'upgrade ferry, or fetch the advisories again',
      },
    );
  return m;
}

const SEVERITY_WIDTH = 13;

function auditOutcome(r: AuditReport): Outcome {
  const text: string[] = [];
  for (const f of r.findings) {
    const sev = `${f.severity}${f.score === undefined ? '' : ` ${f.score.toFixed(1)}`}`.padEnd(
      SEVERITY_WIDTH,
    );
    const fixed = f.fixed === undefined ? 'no fix known' : `fixed in ${f.fixed}`;
    text.push(
      `${f.name} ${f.version}  ${sev} ${f.id}  ${fixed}  [${f.where.join(', ')}]${f.summary === '' ? '' : `  ${f.summary}`}`,
    );
  }
  for (const i of r.ignored)
    text.push(
      `ignored: ${i.finding.name} ${i.finding.version} ${i.finding.id} until ${i.until} (${i.reason})`,
    );
  for (const e of r.expiredIgnores) text.push(`expired ignore: ${e.id} (until ${e.until}) no longer applies`);
  for (const s of r.sources) text.push(sourceLine(s));
  for (const n of r.notes) text.push(`note: ${n}`);
  if (r.unevaluable.length > 0)
    text.push(
      `note: ${r.unevaluable.length} advisory(ies) about these packages have only GIT ranges and cannot be judged by version`,
    );
  const vulnerable = new Set(r.findings.map((f) => `${f.name} ${f.version}`)).size;
  text.push(
    `${r.packages} package(s) checked against ${r.advisories} advisories: ${r.findings.length} finding(s) in ${vulnerable} package(s), ${r.ignored.length} ignored; ${r.failing} at or above --fail-on ${r.failOn}`,
  );
  return { data: r, text, exitCode: r.failing > 0 ? 1 : 0 };
}

async function recordIgnore(app: App): Promise<Outcome> {
  const id = stringOption(app.options, 'ignore') ?? '';
  const reason = stringOption(app.options, 'reason');
  const until = stringOption(app.options, 'until');
  if (id.trim() === '') throw usage('--ignore needs an advisory id');
  if (reason === undefined || reason.trim() === '')
    throw usage('--ignore needs --reason "why the risk is accepted"');
  if (until === undefined || !isIsoDate(until))
    throw usage('--ignore needs --until YYYY-MM-DD (a real date)');
  const project = readProjectAudit(app, true);
  if (project === undefined) throw usage('--ignore needs a ferry.toml');
  const text = addIgnoreText(project.text, project.file, { id, reason, until });
  await writeFileAtomic(project.file, text);
  const past = until < new Date().toISOString().slice(0, 10);
  return {
    data: { file: project.file, ignore: { id, reason, until }, expired: past },
    text: [
      `${project.file}: ignoring ${id} until ${until}${past ? ' (that date has passed: it will not apply)' : ''}`,
    ],
    exitCode: 0,
  };
}

// ---------------------------------------------------------------------------------------------- fetch

async function fetchCommand(app: App, args: readonly string[]) {
  let sources = [...args];
  const project = readProjectAudit(app, false);
  const keys = advisoryKeys(app, project);
  if (sources.length === 0) {
    sources = (project?.config.sources ?? []).map((s) =>
      isUrl(s) ? s : resolvePath(dirname(project?.file ?? ''), s),
    );
    if (sources.length === 0)
      throw usage('nothing to fetch: give a URL or PATH, or list sources in ferry.toml [audit] sources');
  }
  const fetched = [];
  for (const s of sources) fetched.push(await fetchOne(app, isUrl(s) ? s : resolvePath(s), keys));
  return { fetched };
}

async function fetchOne(app: App, source: string, keys: readonly string[]) {
  const base = advisoriesDir(app);
  await fs.mkdir(base, { recursive: true });
  const slug = `${basename(source.replace(/[?#].*$/, '').replace(/\/+$/, '')).replace(/[^A-Za-z0-9._-]/g, '_') || 'advisories'}-${createHash('sha256').update(source).digest('hex').slice(0, 8)}`;
  const dir = join(base, slug);
  const tmp = join(base, `.tmp-${slug}-${process.pid}`);
  await removeTree(tmp);
  await fs.mkdir(tmp);
  try {
    if (isUrl(source)) {
      let res: Response;
      try {
        res = await fetch(source, app.ctx.signal === undefined ? {} : { signal: app.ctx.signal });
      } catch (e) {
        throw new AppError('E_ADVISORY_FETCH', `cannot download ${source}: ${messageOf(e)}`, {
          hint: 'check the URL and the network; audits keep using the last fetched copy',
          cause: e,
        });
      }
      if (!res.ok)
        throw new AppError('E_ADVISORY_FETCH', `cannot download ${source}: HTTP ${res.status}`, {
          hint: 'check the URL; audits keep using the last fetched copy',
        });
      const name = basename(new URL(source).pathname) || 'advisories';
      await fs.writeFile(join(tmp, name), Buffer.from(await res.arrayBuffer()));
    } else {
      if (!existsSync(source))
        throw new AppError('E_ADVISORY_FETCH', `${source} does not exist`, {
          hint: 'give an existing file or directory',
        });
      const st = await fs.stat(source);
      if (st.isDirectory()) await fs.cp(source, join(tmp, 'data'), { recursive: true });
      else await fs.copyFile(source, join(tmp, basename(source)));
    }
    const loaded = await loadAdvisories([tmp], { keys });
    const meta: FetchMeta = {
      formatVersion: FETCH_FORMAT_VERSION,
      source,
      fetchedAt: new Date().toISOString(),
    };
    await fs.writeFile(join(tmp, FETCH_META), `${JSON.stringify(meta, null, 2)}\n`);
    const old = join(base, `.old-${slug}-${process.pid}`);
    const had = existsSync(dir);
    if (had) await fs.rename(dir, old);
    await fs.rename(tmp, dir);
    if (had) await removeTree(old);
    return { source, dir, advisories: loaded.advisories.length, fetchedAt: meta.fetchedAt };
  } finally {
    await removeTree(tmp);
  }
}

// ---------------------------------------------------------------------------------------------- sbom

async function sbomCommand(app: App): Promise<Outcome> {
  const format = stringOption(app.options, 'format') ?? 'cyclonedx';
  if (format !== 'cyclonedx' && format !== 'spdx')
    throw usage(`--format expects cyclonedx or spdx, got "${format}"`);
  const store = await app.store();
  const profile = new Profile(store, stringOption(app.options, 'profile') ?? 'default');
  const generation = await profile.current();
  if (generation === undefined)
    throw new AppError('E_PROFILE_GENERATION', `profile ${profile.name} has no generations`, {
      hint: 'install something into it first',
    });
  const manifest = await profile.read(generation);
  const inClosure = new Set<string>(manifest.packages.map((p) => p.storeId));
  const components: SbomComponent[] = [];
  for (const p of manifest.packages) {
    const meta = await store.readMeta(p.storeId);
    components.push({
      id: p.storeId,
      name: p.name,
      version: p.version,
      license: meta.license,
      summary: meta.summary,
      sha256: filesDigest(meta.files),
      dependsOn: meta.references.filter((r) => inClosure.has(r) && r !== p.storeId),
      requested: p.requested,
    });
  }
  const epoch = app.ctx.env.SOURCE_DATE_EPOCH;
  const time = epoch !== undefined && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
  const input = {
    profile: profile.name,
    generation,
    components,
    toolVersion: ferryVersion(),
    timestamp: `${time.toISOString().slice(0, 19)}Z`,
  };
  const doc = format === 'cyclonedx' ? cycloneDxBom(input) : spdxDocument(input);
  const output = stringOption(app.options, 'output');
  const json = `${JSON.stringify(doc, null, 2)}\n`;
  if (output === undefined) return { data: doc, text: [json.trimEnd()], exitCode: 0 };
  const file = isAbsolute(output) ? output : resolvePath(output);
  await writeFileAtomic(file, json);
  return {
    data: { file, format, components: components.length },
    text: [
      `${file}: ${format === 'cyclonedx' ? 'CycloneDX 1.5' : 'SPDX 2.3'}, ${components.length} package(s)`,
    ],
    exitCode: 0,
  };
}

function ferryVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export interface AdvisoryChanges {
  readonly introduced: readonly Finding[];
  readonly fixed: readonly Finding[];
}

type PackageVersions = readonly { name: string; version: string }[];

/**
 * For `ferry plan` and `ferry deploy`: a function giving the advisories a switch from `before` to `after`
 * would introduce and fix, against the advisories at hand (fetched copies, ferry.toml's sources), loaded
 * once; undefined when there are none to compare with.
 */
export async function advisoryComparer(
  app: App,
): Promise<((before: PackageVersions, after: PackageVersions) => AdvisoryChanges) | undefined> {
  const project = readProjectAudit(app, false);
  let paths: string[];
  try {
    paths = (await advisoryPaths(app, project)).paths;
  } catch (e) {
    if (isAppError(e) && e.code === 'E_ADVISORY_MISSING') return undefined;
    throw e;
  }
  const index = indexAdvisories(
    (await loadAdvisories(paths, { keys: advisoryKeys(app, project) })).advisories,
  );
  const run = (pkgs: PackageVersions) =>
    audit(
      pkgs.map((p) => addAliases({ name: p.name, version: p.version, where: [] }, app.index())),
      index,
    ).findings;
  return (before, after) => compareAudits(run(before), run(after));
}

export async function advisoryChanges(
  app: App,
  before: PackageVersions,
  after: PackageVersions,
): Promise<AdvisoryChanges | undefined> {
  return (await advisoryComparer(app))?.(before, after);
}

/** One advisory source as the text report shows it: what it holds, what was verified, how old it is. */
function sourceLine(s: AuditReport['sources'][number]): string {
  const facts = [s.formats.join(', ') || 'none'];
  if (s.verified.length > 0) facts.push(`checksum ${s.verified.join('+')} ok`);
  for (const f of s.signedBy ?? []) facts.push(`PGP signature by ${f} ok`);
  if (s.newest !== undefined) facts.push(`newest ${s.newest}`);
  if (s.fetchedAt !== undefined)
    facts.push(`fetched ${s.fetchedAt.slice(0, 10)}, ${s.ageDays ?? 0} day(s) ago`);
  return `advisories: ${s.path}: ${s.advisories} (${facts.join(', ')})`;
}
