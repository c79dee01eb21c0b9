import * as fs from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import { AppError } from '../core/index.js';
import { readElf, compareGlibc, type ElfInfo } from '../elf/index.js';
import { runProcess, walkTree } from '../platform/index.js';

/** Libraries every Linux program may take from the host: the C runtime and the compiler's support libraries. */
const C_RUNTIME =
  /^(libc|libm|libdl|libpthread|librt|libutil|libresolv|libanl|libmvec|libgcc_s|libstdc\+\+|libatomic|ld-linux[\w.-]*|ld64)\.so(\.[\d.]+)?$|^ld-linux.*\.so\.\d+$/;

const HOST_LIB_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
];

export interface ElfFixInput {
  /** Where the output really is now. */
  readonly outDir: string;
  /** The final store path (what the build's prefix was, and what $ORIGIN math is relative to). */
  readonly finalPath: string;
  readonly storeDir: string;
  readonly buildDir: string;
  /** Store paths the package may take libraries from at run time (its run dependencies' closure). */
  readonly runInputs: readonly string[];
  /** Store paths that were only there to build (a library found here was declared in the wrong list). */
  readonly buildOnlyInputs: readonly string[];
  readonly label: string;
  /** Suggest a recipe name for a library file name (libpcre2-8.so.0 → pcre2). */
  readonly suggest: (soname: string) => string | undefined;
}

export interface ElfSummary {
  readonly arch: string | undefined;
  readonly minGlibc: string | undefined;
  readonly elfFiles: number;
}

/**
 * After a build: make every run path relative to the file ($ORIGIN), so the root can move, and prove every
 * needed library resolves inside the package, its declared run dependencies, or the C runtime.
 */
export async function fixAndCheckElf(input: ElfFixInput): Promise<ElfSummary> {
  let arch: string | undefined;
  let minGlibc: string | undefined;
  let elfFiles = 0;
  for (const e of await walkTree(input.outDir)) {
    if (e.kind !== 'file' || e.size < 64) continue;
    const path = join(input.outDir, e.rel);
    const info = readElfOrSkip(await fs.readFile(path));
    if (info === undefined || (info.type !== 'exec' && info.type !== 'dyn')) continue;
    elfFiles++;
    arch ??= info.arch;
    if (info.maxGlibc !== undefined && (minGlibc === undefined || compareGlibc(info.maxGlibc, minGlibc) > 0))
      minGlibc = info.maxGlibc;
    await fixOne(input, e.rel, info);
  }
  return { arch, minGlibc, elfFiles };
}

async function fixOne(input: ElfFixInput, rel: string, info: ElfInfo): Promise<void> {
  const fileDirFinal = dirname(join(input.finalPath, rel));
  const entries = [...info.runpath, ...info.rpath];
  const resolved = entries
    .map((p) => expandOrigin(p, fileDirFinal))
    .filter((p) => !p.startsWith(input.buildDir));
  const newRunpath: string[] = [];
  const addDir = (dir: string) => {
    const rp = toOrigin(dir, fileDirFinal, input.storeDir);
    if (!newRunpath.includes(rp)) newRunpath.push(rp);
  };
  for (const lib of info.needed) {
    if (C_RUNTIME.test(lib)) continue;
    const found = await findLib(input, lib, resolved);
    if (found === undefined) throw await undeclared(input, rel, lib);
    addDir(found);
  }
  for (const dir of resolved)
    if (!dir.startsWith(input.storeDir) && !newRunpath.includes(dir)) newRunpath.push(dir);
  const old = entries.join(':');
  const next = newRunpath.join(':');
  if (old === next || (old === '' && next === '')) return;
  await setRunpath(join(input.outDir, rel), info, old, next, input.label);
}

/**
 * Rewrite the run path in place when the new one fits (zero-filling the rest, so the old absolute path is
 * gone from the file, not just unreferenced); otherwise let patchelf grow the string table and then zero the
 * stale copy it leaves behind. Either way no byte of the old root's path survives in the file.
 */
async function setRunpath(
  path: string,
  info: ElfInfo,
  old: string,
  next: string,
  label: string,
): Promise<void> {
  const st = await fs.stat(path);
  await fs.chmod(path, st.mode | 0o200);
  try {
    const bytes = await fs.readFile(path);
    const loc = info.runpathLocation;
    const fits = loc !== undefined && Buffer.byteLength(next) <= loc.length;
    if (fits && bytes.toString('utf8', loc.offset, loc.offset + loc.length) === old) {
      bytes.fill(0, loc.offset, loc.offset + loc.length);
      bytes.write(next, loc.offset, 'utf8');
      await fs.writeFile(path, bytes);
      return;
    }
    const r = await runProcess('patchelf', ['--set-rpath', next, path]);
    if (r.exitCode !== 0)
      throw new AppError(
        'E_BUILD_FAILED',
        `${label}: patchelf could not set the run path of ${path}: ${r.stderr.trim()}`,
        {
          hint: 'is patchelf installed? (apt-get install patchelf)',
        },
      );
    const after = await fs.readFile(path);
    const stale = Buffer.from(`${old}\0`);
    let changed = false;
    for (let at = after.indexOf(stale); at !== -1 && old !== ''; at = after.indexOf(stale, at)) {
      after.fill(0, at, at + stale.length);
      changed = true;
    }
    if (changed) await fs.writeFile(path, after);
  } finally {
    await fs.chmod(path, st.mode);
  }
}

/** The directory (as seen at the final path) that provides `lib`, or undefined when nothing declared does. */
async function findLib(
  input: ElfFixInput,
  lib: string,
  runpath: readonly string[],
): Promise<string | undefined> {
  const own = [join(input.finalPath, 'lib'), join(input.finalPath, 'lib64')];
  const allowed = [input.finalPath, ...input.runInputs];
  const candidates = [...runpath, ...own].filter((d) =>
    allowed.some((a) => d === a || d.startsWith(`${a}/`)),
  );
  for (const dir of candidates) {
    const real = dir.startsWith(input.finalPath) ? input.outDir + dir.slice(input.finalPath.length) : dir;
    if (await exists(join(real, lib))) return dir;
  }
  return undefined;
}

async function undeclared(input: ElfFixInput, rel: string, lib: string): Promise<AppError> {
  const host = await hostPathOf(lib);
  const suggestion = input.suggest(lib);
  const where =
    host === undefined ? 'it is not on this host either' : `the build picked up the host's ${host}`;
  const hint =
    suggestion !== undefined
      ? `declare it: add "${suggestion}" to [depends] run`
      : input.buildOnlyInputs.length > 0
        ? 'if a build dependency provides it, move that dependency to [depends] run'
        : `write a recipe that provides ${lib} and add it to [depends] run`;
  return new AppError(
    'E_BUILD_UNDECLARED_LIB',
    `${input.label}: ${rel} needs ${lib}, which no declared run dependency provides; ${where}`,
    {
      hint,
      details: { file: rel, library: lib, hostPath: host ?? null },
    },
  );
}

async function hostPathOf(lib: string): Promise<string | undefined> {
  for (const d of HOST_LIB_DIRS) if (await exists(join(d, lib))) return join(d, lib);
  return undefined;
}

function expandOrigin(entry: string, fileDir: string): string {
  return posix.normalize(entry.replace(/\$\{ORIGIN\}|\$ORIGIN/g, fileDir));
}

function toOrigin(dir: string, fileDir: string, storeDir: string): string {
  if (!dir.startsWith(storeDir)) return dir;
  const rel = relative(fileDir, dir);
  return rel === '' ? '$ORIGIN' : `$ORIGIN/${rel}`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Test data and fragments can look like ELF without being loadable; the loader would refuse them too. */
function readElfOrSkip(bytes: Buffer): ElfInfo | undefined {
  try {
    return readElf(bytes);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('malformed ELF')) return undefined;
    throw e;
  }
}
