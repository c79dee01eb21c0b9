import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository checkout (tests run from dist-test/…). */
export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ferryBin = join(repoDir, 'dist', 'main.js');
export const examplePorts = join(repoDir, 'examples', 'ports');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Sandboxed {
  /** A fresh temporary directory for this test: HOME, root and scratch live below it. */
  readonly dir: string;
  readonly root: string;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  /** Run `ferry ARGS` with --root pointing at this test's root. */
  ferry(args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<CliResult>;
  /** Start ferry without waiting (for kill tests). */
  spawnFerry(args: readonly string[]): ChildProcess;
  cleanup(): Promise<void>;
}

/** A temporary HOME and ferry root, and a pinned environment, as the style guide asks for e2e tests. */
export function makeSandbox(prefix = 'ferry-e2e-'): Sandboxed {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const home = join(dir, 'home');
  const root = join(dir, 'root');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    NO_COLOR: '1',
    TZ: 'UTC',
    LANG: 'C',
    SOURCE_DATE_EPOCH: '1',
    CI: process.env.CI,
    FERRY_DISTFILES: process.env.FERRY_TEST_DISTFILES ?? join(repoDir, 'distfiles'),
  };
  const run = (args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) =>
    runCli([ferryBin, '--root', root, ...args], { ...env, ...(opts.env ?? {}) }, opts.input);
  return {
    dir,
    root,
    home,
    env,
    ferry: run,
    spawnFerry: (args) =>
      spawn(process.execPath, [ferryBin, '--root', root, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    cleanup: async () => {
      await fs.chmod(dir, 0o755).catch(() => undefined);
      await makeWritable(dir);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

async function makeWritable(path: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  await fs.chmod(path, st.mode | 0o700);
  for (const e of await fs.readdir(path)) await makeWritable(join(path, e));
}

/** Write a recipe into a ports tree under `dir` and return the tree's path. */
export async function writeRecipe(
  tree: string,
  name: string,
  version: string,
  body: string,
): Promise<string> {
  const file = join(tree, name, `${version}.toml`);
  await fs.mkdir(dirname(file), { recursive: true });
  await fs.writeFile(file, `name = "${name}"\nversion = "${version}"\n${body}`);
  return file;
}

/** Write a source tree next to a recipe (for `path =` sources). */
export async function writeSource(
  tree: string,
  name: string,
  sub: string,
  files: Record<string, string>,
): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = join(tree, name, sub, rel);
    await fs.mkdir(dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
}

/** Fail (not skip) when CI is set and a capability is missing; skip with a reason elsewhere. */
export function requireCapability(ok: boolean, what: string): string | false {
  if (ok) return false;
  if (process.env.CI !== undefined) throw new Error(`CI needs ${what}, which this machine lacks`);
  return `needs ${what}`;
}
