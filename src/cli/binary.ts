import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppError, RecordingReporter } from '../core/index.js';
import { openCache, pushToDir, serveCache, substitute, type SubstituteResult } from '../cache/index.js';
import {
  formatKey,
  installPackageFiles,
  writeArchive,
  packStorePath,
  parsePublicKey,
  type HostPlatform,
  type TrustOptions,
} from '../pkg/index.js';
import { removeTree, walkTree } from '../platform/index.js';
import { Profile } from '../profile/index.js';
import { resolve as resolvePlan, runClosure, type PackageKey, type Plan } from '../resolve/index.js';
import { parseDepSpec } from '../recipe/index.js';
import { realisePlanIds } from '../build/index.js';
import { tryParseStoreId, type Store, type StoreId } from '../store/index.js';
import { showFile, type App } from './app.js';
import { intOption, stringOption } from './args.js';
import { createKey, readConfig, signingKey, substitutersFor, trustKey } from './config.js';

/**
 * This machine's platform. The glibc version is read when first asked for: Node reports it only in a whole
 * diagnostic report (~5 ms), which an install would otherwise make before its extraction workers start.
 */
export function hostPlatform(): HostPlatform {
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  let glibc: { v: string | undefined } | undefined;
  return {
    os: process.platform,
    arch,
    get glibc() {
      glibc ??= {
        v: (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
          ?.glibcVersionRuntime,
      };
      return glibc.v;
    },
  };
}

async function trustFor(app: App): Promise<TrustOptions> {
  const config = await readConfig(app.ctx.rootDir);
  return { trusted: config.trustedKeys, allowUntrusted: app.options['allow-untrusted'] === true };
}

export async function keysGenerateCommand(app: App, args: readonly string[]) {
  const name = args[0];
  if (name === undefined || args.length > 1)
    throw new AppError('E_USAGE', 'name the key: ferry keys generate NAME');
  const pub = await createKey(app.ctx.rootDir, name);
  return {
    name,
    publicKey: formatKey(pub),
    secretFile: join(app.ctx.rootDir, 'etc', 'keys', `${name}.secret`),
  };
}

export async function keysTrustCommand(app: App, args: readonly string[]) {
  if (args.length === 0)
    throw new AppError('E_USAGE', 'give the key: ferry keys trust NAME:BASE64 (or a .public file)');
  const out: { name: string; file: string }[] = [];
  for (const a of args) {
    const text = a.includes(':') ? a : await fs.readFile(a, 'utf8');
    const key = parsePublicKey(text, a.includes(':') ? 'the command line' : a);
    out.push({ name: key.name, file: await trustKey(app.ctx.rootDir, key) });
  }
  return { trusted: out };
}

export async function keysListCommand(app: App) {
  const config = await readConfig(app.ctx.rootDir);
  const own = (await fs.readdir(join(app.ctx.rootDir, 'etc', 'keys')).catch(() => [] as string[]))
    .filter((n) => n.endsWith('.secret'))
    .map((n) => n.slice(0, -'.secret'.length));
  return { signing: own, trusted: config.trustedKeys.map((k) => formatKey(k)) };
}

/**
 * STOREPATH or NAME → store ids: a store path name (or path); the package of that name in the profile; or
 * else a dependency string resolved like `ferry build` would (it must have been built).
 */
async function storeIdsOf(app: App, store: Store, args: readonly string[]): Promise<StoreId[]> {
  const profile = new Profile(store, stringOption(app.options, 'profile') ?? 'default');
  const current = await profile.currentManifest();
  const out: StoreId[] = [];
  for (const a of args) {
    const id = tryParseStoreId(a.replace(/\/+$/, '').split('/').pop() ?? a);
    const pkg = current?.packages.find((p) => p.name === a || `${p.name}-${p.version}` === a);
    out.push(id ?? pkg?.storeId ?? (await builtIdOf(app, store, a)));
  }
  return out;
}

async function builtIdOf(app: App, store: Store, spec: string): Promise<StoreId> {
  const plan = resolvePlan(app.index(), { specs: [parseDepSpec(spec)], showFile });
  const { ids } = await realisePlanIds(plan);
  const id = plan.roots[0] === undefined ? undefined : ids.get(plan.roots[0]);
  if (id === undefined || !(await store.has(id)))
    throw new AppError(
      'E_STORE_PATH',
      `${spec} is not built in this root${id === undefined ? '' : ` (${id})`}`,
      {
        hint: `ferry build ${spec}`,
      },
    );
  return id;
}

export async function packCommand(app: App, args: readonly string[]) {
  const store = await app.store();
  const key = await signingKey(app.ctx.rootDir, stringOption(app.options, 'key'));
  const outDir = resolve(stringOption(app.options, 'output') ?? '.');
  await fs.mkdir(outDir, { recursive: true });
  const ids = await storeIdsOf(app, store, args);
  const packed = [];
  for (const id of ids) {
    if (!(await store.has(id)))
      throw new AppError('E_STORE_PATH', `${id} is not in the store`, { hint: 'build it first' });
    const r = await packStorePath(store, id, outDir, key);
    packed.push({ id, ...r.files, archiveSize: r.manifest.archive.size });
  }
  return { signedBy: key.name, packed };
}

export async function unpackCommand(app: App, args: readonly string[]) {
  if (args.length === 0)
    throw new AppError('E_USAGE', 'give package manifests: ferry unpack DIR/<store path>.json…');
  const store = await app.store();
  const trust = await trustFor(app);
  const out = [];
  for (const a of args) {
    const r = await installPackageFiles(store, resolve(a), trust, hostPlatform());
    out.push({ id: r.manifest.id, storePath: store.pathOf(r.manifest.id), installed: r.installed });
  }
  return { unpacked: out };
}

export async function cachePushCommand(app: App, args: readonly string[]) {
  const dest = args[0];
  if (dest === undefined)
    throw new AppError('E_USAGE', 'name the cache: ferry cache push DIR [NAME…|--profile P]');
  const dir = resolve(dest.replace(/^file:\/\//, ''));
  const store = await app.store();
  const key = await signingKey(app.ctx.rootDir, stringOption(app.options, 'key'));
  const roots = args.length > 1 ? await storeIdsOf(app, store, args.slice(1)) : await profileIds(app, store);
  const ids = [...(await store.closure(roots))].sort();
  const r = await pushToDir(store, dir, ids, {
    key,
    validDays: validDays(app),
    now: new Date(),
    onPacked: (id, skipped) => {
      if (!skipped) app.ctx.reporter.info(`packed ${id}`);
    },
  });
  return { cache: dir, signedBy: key.name, ...r };
}

async function profileIds(app: App, store: Store): Promise<StoreId[]> {
  const profile = new Profile(store, stringOption(app.options, 'profile') ?? 'default');
  const m = await profile.currentManifest();
  if (m === undefined)
    throw new AppError('E_PROFILE_GENERATION', `profile ${profile.name} has no generation to push`, {
      hint: 'name packages: ferry cache push DIR NAME…',
    });
  return m.packages.map((p) => p.storeId);
}

export async function cacheInfoCommand(app: App, args: readonly string[]) {
  const url = args[0];
  if (url === undefined) throw new AppError('E_USAGE', 'name the cache: ferry cache info URL');
  const store = await app.store();
  const config = await readConfig(app.ctx.rootDir);
  const c = await openCache(store, url, await trustFor(app), new Date(), config.httpTimeoutMs);
  return {
    url: c.source.url,
    signedBy: c.signer ?? null,
    version: c.index.version,
    expires: c.index.expires,
    packages: Object.keys(c.index.packages).length,
  };
}

export async function cacheServeCommand(app: App, args: readonly string[]) {
  const dir = args[0];
  if (dir === undefined) throw new AppError('E_USAGE', 'name the directory: ferry cache serve DIR --port N');
  const port = intOption(app.options, 'port', 8080);
  const host = stringOption(app.options, 'host') ?? '127.0.0.1';
  const server = await serveCache(resolve(dir), port, host);
  const addr = server.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
  app.ctx.reporter.info(`serving ${resolve(dir)} on http://${host}:${actual}/ (Ctrl-C stops)`);
  await new Promise<void>((done) => {
    const stop = () => {
      server.close(() => {
        done();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return { served: resolve(dir), port: actual };
}

/**
 * Checked before anything is packed (a date past year 9999 failed only once all was packed). 0 is allowed, to
 * withdraw a cache or to try how clients take an expired index, with a warning.
 */
function validDays(app: App): number {
  const days = intOption(app.options, 'valid-days', 30);
  if (days > MAX_VALID_DAYS)
    throw new AppError('E_USAGE', `--valid-days expects at most ${MAX_VALID_DAYS} days, got ${days}`, {
      hint: 'clients refuse an index once it expires: publish again (`ferry cache push`) before then',
    });
  if (days === 0)
    app.ctx.reporter.warn(
      undefined,
      '--valid-days 0: the index expires now, and clients refuse it (E_CACHE_EXPIRED) until the next push',
    );
  return days;
}

/** A hundred years. */
const MAX_VALID_DAYS = 36_500;

/** Options for a substitution that asks no cache (nothing is read from them). */
const SKIP = {
  trust: { trusted: [], allowUntrusted: false },
  host: { os: '', arch: '', glibc: undefined },
  now: new Date(0),
  reporter: new RecordingReporter(),
  parallel: 1,
};

/**
 * Before building: fetch from the substituters every store path of the plan's run closure the store lacks.
 * What no cache has (or what fails verification) is left to the build.
 */
export async function substitutePlan(
  app: App,
  store: Store,
  plan: Plan,
  ids: ReadonlyMap<PackageKey, StoreId>,
): Promise<SubstituteResult> {
  const wanted = runClosure(plan, plan.roots)
    .map((k) => ids.get(k))
    .filter((id): id is StoreId => id !== undefined);
  // The common case, everything present, reads no configuration and no key.
  if (store.missing(wanted).length === 0) return { installed: [], missing: [] };
  const config = await readConfig(app.ctx.rootDir);
  const urls = await substitutersFor(app, config);
  if (urls.length === 0) return substitute(store, [], wanted, SKIP);
  return substitute(store, urls, wanted, {
    trust: { trusted: config.trustedKeys, allowUntrusted: app.options['allow-untrusted'] === true },
    host: hostPlatform(),
    now: new Date(),
    reporter: app.ctx.reporter,
    parallel: 4,
    ...(config.httpTimeoutMs === undefined ? {} : { stallMs: config.httpTimeoutMs }),
  });
}

/**
 * `ferry export`: one tarball holding a profile's current generation and its whole run-time closure, laid out
 * as a small ferry root (store/, profiles/, bin → the profile's bin). Links inside are relative and run paths
 * are $ORIGIN-relative, so it works wherever it is extracted; `activate` rewrites the text files that embed
 * the exporting root's path (the same files `ferry relocate` would).
 */
export async function exportCommand(app: App) {
  const out = stringOption(app.options, 'output');
  if (out === undefined)
    throw new AppError('E_USAGE', 'name the tarball: ferry export --profile P -o app.tar.gz');
  const store = await app.store();
  const profile = new Profile(store, stringOption(app.options, 'profile') ?? 'default');
  const number = await profile.current();
  const m = number === undefined ? undefined : await profile.read(number);
  if (number === undefined || m === undefined)
    throw new AppError('E_PROFILE_GENERATION', `profile ${profile.name} has no generation to export`, {
      hint: `ferry install --profile ${profile.name} NAME…`,
    });
  const ids = [...(await store.closure(m.packages.map((p) => p.storeId)))].sort();
  const stage = join(app.ctx.rootDir, 'var', `.export-${process.pid}`);
  await removeTree(stage);
  try {
    const rootFiles = await stageExport(store, profile, number, ids, stage);
    const r = await writeArchive(stage, resolve(out));
    return {
      output: resolve(out),
      profile: profile.name,
      generation: number,
      storePaths: ids.length,
      rootPathFiles: rootFiles,
      ...r,
    };
  } finally {
    await removeTree(stage);
  }
}

async function stageExport(
  store: Store,
  profile: Profile,
  n: number,
  ids: readonly StoreId[],
  stage: string,
) {
  const rootFiles: string[] = [];
  await fs.mkdir(join(stage, 'store', '.meta'), { recursive: true });
  for (const id of ids) {
    await linkTree(store.pathOf(id), join(stage, 'store', id));
    const meta = await store.readMeta(id);
    await fs.writeFile(join(stage, 'store', '.meta', `${id}.json`), `${JSON.stringify(meta, null, 1)}\n`);
    rootFiles.push(...meta.rootPathFiles.map((f) => `${id}/${f}`));
  }
  await fs.mkdir(join(stage, 'profiles'), { recursive: true });
  await linkTree(join(profile.gensDir, String(n)), join(stage, 'profiles', `${profile.name}.d`, String(n)));
  await fs.symlink(`${profile.name}.d/${n}`, join(stage, 'profiles', profile.name));
  await fs.symlink(`profiles/${profile.name}/bin`, join(stage, 'bin'));
  await fs.mkdir(join(stage, 'var'));
  await fs.writeFile(join(stage, 'var', 'root-path'), `${store.rootDir}\n`);
  await fs.writeFile(join(stage, 'var', 'root-path-files'), rootFiles.map((f) => `${f}\n`).join(''));
  await fs.writeFile(join(stage, 'activate'), ACTIVATE, { mode: 0o755 });
  return rootFiles.length;
}

/** Mirror a tree with hard links (no copy of the bytes; store files are immutable), symlinks as they are. */
async function linkTree(src: string, dest: string): Promise<void> {
  await fs.mkdir(dest, { recursive: true });
  for (const e of await walkTree(src)) {
    const from = join(src, e.rel);
    const to = join(dest, e.rel);
    if (e.kind === 'dir') await fs.mkdir(to, { recursive: true });
    else if (e.kind === 'symlink') await fs.symlink(await fs.readlink(from), to);
    else await fs.link(from, to).catch(() => fs.copyFile(from, to));
  }
}

// POSIX sh, so an ancient host needs nothing installed. Text files get the new root with sed; a binary that
// embeds the old root cannot be edited safely here and is reported (then use `ferry relocate --root DIR`).
const ACTIVATE = `#!/bin/sh
# Makes this extracted ferry export work where it lies: rewrites the files that name the root it came from.
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
old=$(cat "$here/var/root-path")
if [ "$old" = "$here" ]; then echo "ferry export: already active at $here"; exit 0; fi
quote() { printf '%s' "$1" | sed 's|[][\\\\.*^$&]|\\\\&|g'; }
from=$(quote "$old"); to=$(quote "$here")
n=0
while IFS= read -r f; do
  p="$here/store/$f"
  if head -c 4 "$p" | grep -q 'ELF'; then
    echo "ferry export: $f is a binary that embeds $old; run: ferry relocate --root $here" >&2; exit 1
  fi
  chmod u+w "$p" "$(dirname "$p")"
  sed "s|$from|$to|g" "$p" > "$p.tmp" && cat "$p.tmp" > "$p" && rm -f "$p.tmp"
  n=$((n + 1))
done < "$here/var/root-path-files"
printf '%s\\n' "$here" > "$here/var/root-path.tmp" && mv "$here/var/root-path.tmp" "$here/var/root-path"
echo "ferry export: active at $here ($n file(s) rewritten); programs are in $here/bin"
`;
