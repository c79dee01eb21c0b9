import * as fs from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { AppError, type Context, type Sha256 } from '../core/index.js';
import { fetchSource, type FetchedSource } from '../fetch/index.js';
import {
  removeTree,
  runProcess,
  walkTree,
  type Command,
  type Sandbox,
  type SandboxSpec,
} from '../platform/index.js';
import { conditionHolds, type Recipe } from '../recipe/index.js';
import type { PlanNode } from '../resolve/index.js';
import {
  filesContaining,
  hashTree,
  META_FORMAT_VERSION,
  type Store,
  type StoreId,
  type StoreMeta,
} from '../store/index.js';
import { fixAndCheckElf } from './checks.js';
import { buildEnv, buildScript } from './env.js';
import type { Platform } from './ids.js';

export interface BuildJob {
  readonly node: PlanNode;
  readonly id: StoreId;
  readonly sourceHashes: readonly Sha256[];
  /** Store paths of direct run dependencies (the references recorded in metadata). */
  readonly references: readonly StoreId[];
  /** Run-time closure of the run dependencies: where libraries may come from. */
  readonly runInputs: readonly StoreId[];
  /** Build dependencies and their closures, not also run inputs. */
  readonly buildOnlyInputs: readonly StoreId[];
  readonly platform: Platform;
}

export interface BuilderOptions {
  readonly sandbox: Sandbox;
  readonly jobs: number;
  readonly allowNetwork: boolean;
  readonly suggest: (soname: string) => string | undefined;
}

export interface BuildOutcome {
  readonly status: 'built' | 'present';
  readonly id: StoreId;
  readonly logFile?: string;
}

const HIDDEN = ['/usr/local', '/opt'];

/** Build one plan node into the store, unless another process already did. */
export async function buildOne(
  ctx: Context,
  store: Store,
  job: BuildJob,
  opts: BuilderOptions,
): Promise<BuildOutcome> {
  const label = `${job.node.recipe.name} ${job.node.recipe.version}`;
  if (await store.has(job.id)) return { status: 'present', id: job.id };
  const lock = await store.lock(job.id, (pid) => {
    ctx.reporter.info(`waiting for process ${pid}, which is building ${label}`);
  });
  try {
    if (await store.has(job.id)) return { status: 'present', id: job.id };
    return await buildLocked(ctx, store, job, opts, label);
  } finally {
    await lock.release();
  }
}

async function buildLocked(ctx: Context, store: Store, job: BuildJob, opts: BuilderOptions, label: string) {
  const recipe = job.node.recipe;
  const sources: FetchedSource[] = [];
  for (const s of recipe.sources)
    sources.push(await fetchSource(ctx, recipe, s, { allowNetwork: opts.allowNetwork }));
  const logDir = join(ctx.rootDir, 'var', 'log');
  await fs.mkdir(logDir, { recursive: true });
  const logFile = join(logDir, `${job.id}.log`);
  await fs.writeFile(logFile, `# ferry build of ${label} (${job.id})\n`);
  const buildDir = join(ctx.rootDir, 'build', job.id);
  await removeTree(buildDir);
  await fs.mkdir(join(buildDir, 'src'), { recursive: true });
  await fs.mkdir(join(buildDir, '.home'));
  await fs.mkdir(join(buildDir, '.tmp'));
  const outDir = await store.makeTempOut(job.id);
  const activity = { id: `build:${job.id}`, kind: 'build' as const, text: label };
  ctx.reporter.start(activity);
  try {
    const spec: SandboxSpec = {
      rootDir: ctx.rootDir,
      buildDir,
      outDir,
      prefixPath: store.pathOf(job.id),
      inputPaths: [...job.runInputs, ...job.buildOnlyInputs].map((id) => store.pathOf(id)),
      readOnlyFiles: sources.filter((s) => s.kind === 'file').map((s) => s.path),
      hiddenDirs: [...HIDDEN, ...(ctx.env.HOME === undefined ? [] : [ctx.env.HOME])],
    };
    const run = makeRunner(opts.sandbox, spec, logFile, (line) => {
      ctx.reporter.progress(activity.id, line);
    });
    const srcDir = await unpack(run, sources, join(buildDir, 'src'), label, logFile);
    const prefix = opts.sandbox.prefixFor(spec);
    const env = buildEnv({
      prefix,
      buildDir,
      jobs: opts.jobs,
      inputs: spec.inputPaths,
      recipeEnv: recipe.build.env,
      tmpDir: opts.sandbox.kind === 'none' ? join(buildDir, '.tmp') : '/tmp',
    });
    const args = recipe.build.configureArgs
      .filter((a) => conditionHolds(a.condition, job.node.options))
      .map((a) => a.value);
    const script = buildScript(recipe.build.system, recipe.build.script);
    const r = await run({ file: '/bin/sh', args: ['-c', script, 'ferry-build', ...args] }, srcDir, env);
    if (r.exitCode !== 0) throw await buildFailed(label, logFile, r.exitCode);
    const meta = await postprocess(ctx, store, job, opts, { outDir, buildDir, prefix, label });
    await store.register(outDir, meta);
    ctx.reporter.finish(activity.id, 'ok');
    await removeTree(buildDir);
    return { status: 'built', id: job.id, logFile } as const;
  } catch (e) {
    ctx.reporter.finish(activity.id, 'failed');
    await removeTree(outDir);
    throw e;
  }
}

type Runner = (cmd: Command, cwd: string, env: Record<string, string>) => ReturnType<typeof runProcess>;

function makeRunner(
  sandbox: Sandbox,
  spec: SandboxSpec,
  logFile: string,
  onLine: (l: string) => void,
): Runner {
  return (cmd, cwd, env) => {
    const wrapped = sandbox.wrap({ ...spec, buildDir: spec.buildDir }, cmd);
    const inner = sandbox.kind === 'bwrap' ? withChdir(wrapped, cwd) : wrapped;
    return runProcess(inner.file, inner.args, { cwd, env, logFile, onLine });
  };
}

/** bwrap's --chdir was set to the build dir; point it at the source dir instead. */
function withChdir(cmd: Command, cwd: string): Command {
  const args = [...cmd.args];
  const i = args.indexOf('--chdir');
  if (i >= 0) args[i + 1] = cwd;
  return { file: cmd.file, args };
}

/** Unpack every source into `dest` (inside the sandbox, so a hostile archive can only write there). */
async function unpack(
  run: Runner,
  sources: readonly FetchedSource[],
  dest: string,
  label: string,
  logFile: string,
) {
  const env = { PATH: '/usr/bin:/bin', LANG: 'C' };
  for (const s of sources) {
    if (s.kind === 'dir') {
      await fs.cp(s.path, join(dest, basename(s.path)), { recursive: true, preserveTimestamps: true });
      continue;
    }
    if (!/\.(tar(\.(gz|bz2|xz|zst|lz))?|tgz|tbz2|txz)$/.test(s.path)) {
      await fs.copyFile(s.path, join(dest, basename(s.path)));
      continue;
    }
    const r = await run(
      { file: 'tar', args: ['-xf', s.path, '--no-same-owner', '--no-same-permissions', '-C', dest] },
      dest,
      env,
    );
    if (r.exitCode !== 0)
      throw await buildFailed(`${label} (unpacking ${basename(s.path)})`, logFile, r.exitCode);
  }
  const entries = (await fs.readdir(dest)).filter((n) => !n.startsWith('.'));
  const first = entries.length === 1 ? join(dest, entries[0] ?? '') : dest;
  return (await fs.stat(first)).isDirectory() ? first : dest;
}

async function buildFailed(label: string, logFile: string, exitCode: number): Promise<AppError> {
  const text = await fs.readFile(logFile, 'utf8');
  const tail = text.trimEnd().split('\n').slice(-25).join('\n');
  return new AppError(
    'E_BUILD_FAILED',
    `build of ${label} failed (exit status ${exitCode}); last lines:\n${tail}`,
    {
      hint: `full log: ${logFile}`,
      details: { logFile },
    },
  );
}

interface PostInput {
  readonly outDir: string;
  readonly buildDir: string;
  readonly prefix: string;
  readonly label: string;
}

async function postprocess(ctx: Context, store: Store, job: BuildJob, opts: BuilderOptions, p: PostInput) {
  const finalPath = store.pathOf(job.id);
  if (p.prefix !== finalPath) await rewriteSameLength(p.outDir, p.prefix, finalPath);
  const leaks = await filesContaining(p.outDir, p.buildDir);
  if (leaks.length > 0)
    throw new AppError(
      'E_BUILD_LEAKS_BUILDDIR',
      `${p.label}: ${leaks.length} output file(s) contain the build directory ${p.buildDir}: ${leaks.slice(0, 5).join(', ')}`,
      {
        hint: 'such files break once the build directory is gone; fix the recipe (e.g. pass the install prefix, not the source dir)',
      },
    );
  const elf = await fixAndCheckElf({
    outDir: p.outDir,
    finalPath,
    storeDir: store.storeDir,
    buildDir: p.buildDir,
    runInputs: job.runInputs.map((id) => store.pathOf(id)),
    buildOnlyInputs: job.buildOnlyInputs.map((id) => store.pathOf(id)),
    label: p.label,
    suggest: opts.suggest,
  });
  const r = job.node.recipe;
  return {
    formatVersion: META_FORMAT_VERSION,
    id: job.id,
    name: r.name,
    version: r.version,
    slot: r.slot,
    options: job.node.options,
    license: r.license,
    summary: r.summary,
    recipeHash: r.recipeHash,
    sourceHashes: job.sourceHashes,
    references: job.references,
    buildInputs: [...job.runInputs, ...job.buildOnlyInputs],
    platform: {
      os: job.platform.os,
      arch: elf.arch ?? job.platform.arch,
      ...(elf.minGlibc === undefined ? {} : { minGlibc: elf.minGlibc }),
    },
    files: await hashTree(p.outDir),
    rootPathFiles: await filesContaining(p.outDir, ctx.rootDir),
    embeddedRoot: ctx.rootDir,
    builtAt: new Date().toISOString(),
  } satisfies StoreMeta;
}

/** Unsandboxed builds saw a temporary prefix of the final path's length; swap it byte for byte. */
async function rewriteSameLength(dir: string, from: string, to: string): Promise<void> {
  const a = Buffer.from(from);
  const b = Buffer.from(to);
  for (const e of await walkTree(dir)) {
    const path = join(dir, e.rel);
    if (e.kind === 'symlink') {
      const target = await fs.readlink(path);
      if (target.includes(from)) {
        await fs.rm(path);
        await fs.symlink(target.split(from).join(to), path);
      }
      continue;
    }
    if (e.kind !== 'file') continue;
    const bytes = await fs.readFile(path);
    if (!bytes.includes(a)) continue;
    for (let at = bytes.indexOf(a); at !== -1; at = bytes.indexOf(a, at + b.length)) b.copy(bytes, at);
    await fs.chmod(path, e.mode | 0o200);
    await fs.writeFile(path, bytes);
    await fs.chmod(path, e.mode);
  }
}

export function defaultJobs(): number {
  return availableParallelism();
}

export function recipeLabel(r: Recipe): string {
  return `${r.name} ${r.version}`;
}
