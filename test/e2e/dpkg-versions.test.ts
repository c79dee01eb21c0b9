/**
 * Proves that ferry's version order is dpkg's: compares pairs of real versions from this machine's Debian
 * package index with both `compareVersions` and `dpkg --compare-versions`. Needs `apt-get update` to have
 * run; without an index (or dpkg) the test skips on a laptop and fails when CI is set.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

type VersionModule = typeof import('../../src/version/index.js');

const LISTS_DIR = '/var/lib/apt/lists';
const APT_HELPER = '/usr/lib/apt/apt-helper';
const SEED = 0x5eed_f00d;

const execFileAsync = promisify(execFile);

test(
  'compareVersions orders real Debian versions exactly as dpkg --compare-versions',
  { timeout: 120_000 },
  async (t) => {
    const missing = await whyUnavailable();
    if (missing !== undefined) {
      skipOrFail(t, missing);
      return;
    }
    const versions = await readIndexVersions();
    if (versions.length < 1000) {
      skipOrFail(t, `only ${versions.length} versions in ${LISTS_DIR}`);
      return;
    }

    const { compareVersions } = (await import(
      new URL('../../dist/version/index.js', import.meta.url).href
    )) as VersionModule;
    const real = choosePairs(versions);
    const synthetic = equalVariants(versions);
    // Put the lower version first (by ferry's order), so dpkg usually answers with a single `lt` call.
    const pairs = [...real, ...synthetic].map(([a, b]) =>
      compareVersions(a, b) > 0 ? ([b, a] as const) : ([a, b] as const),
    );

    const started = performance.now();
    const dpkg = await dpkgOrder(pairs);
    const dpkgMs = performance.now() - started;

    const mismatches: string[] = [];
    const counts = { lt: 0, eq: 0, gt: 0 };
    pairs.forEach(([a, b], i) => {
      const want = dpkg[i];
      const got = compareVersions(a, b);
      if (want === -1) counts.lt++;
      else if (want === 0) counts.eq++;
      else counts.gt++;
      if (got !== want) mismatches.push(`${a} vs ${b}: ferry ${got}, dpkg ${String(want)}`);
    });
    assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} of ${pairs.length} pairs differ`);
    assert.ok(real.length >= 10_000, `only ${real.length} real pairs`);

    const sortStart = performance.now();
    const sorted = [...versions].sort(compareVersions);
    const sortMs = performance.now() - sortStart;
    assert.equal(sorted.length, versions.length);

    const from = `${real.length} from ${versions.length} distinct index versions`;
    const answers = `dpkg said ${counts.lt} lt, ${counts.eq} eq, ${counts.gt} gt (pairs put low-high)`;
    t.diagnostic(
      `compared ${pairs.length} pairs with dpkg (${from}, ${synthetic.length} equal-by-rule variants)`,
    );
    t.diagnostic(`${answers}; dpkg took ${(dpkgMs / 1000).toFixed(1)} s`);
    t.diagnostic(`ferry sorted the ${versions.length} versions in ${sortMs.toFixed(0)} ms`);
  },
);

function skipOrFail(t: TestContext, reason: string): void {
  if (process.env.CI !== undefined && process.env.CI !== '')
    assert.fail(`${reason} (CI is set, so this fails)`);
  t.skip(reason);
}

async function whyUnavailable(): Promise<string | undefined> {
  try {
    await execFileAsync('dpkg', ['--version']);
  } catch (e) {
    return `dpkg cannot be run: ${e instanceof Error ? e.message : String(e)}`;
  }
  const files = await indexFiles();
  if (files.length === 0) return `no *_Packages files in ${LISTS_DIR}; run apt-get update`;
  return undefined;
}

async function indexFiles(): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(LISTS_DIR);
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => /_Packages(\.(gz|lz4|xz|bz2|zst))?$/.test(n))
    .sort()
    .map((n) => join(LISTS_DIR, n));
}

/** Every distinct `Version:` value in the index, in code-unit order (independent of the order under test). */
async function readIndexVersions(): Promise<string[]> {
  const seen = new Set<string>();
  for (const file of await indexFiles()) {
    const text = await readIndexFile(file);
    for (const m of text.matchAll(/^Version: *(\S+) *$/gm)) if (m[1] !== undefined) seen.add(m[1]);
  }
  return [...seen].sort();
}

async function readIndexFile(file: string): Promise<string> {
  if (file.endsWith('_Packages')) return readFile(file, 'utf8');
  if (file.endsWith('.gz')) return gunzipSync(await readFile(file)).toString('utf8');
  // apt's own helper decompresses whatever apt downloaded (lz4, xz, bz2, zstd).
  const { stdout } = await execFileAsync(APT_HELPER, ['cat-file', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  return stdout;
}

type Pair = readonly [string, string];

/**
 * Deterministic pairs of real versions (for a given index): neighbours in code-unit order, seeded random
 * pairs, and pairs aimed at each rule: same upstream with different revisions, epochs, `~` and `+`.
 */
function choosePairs(versions: readonly string[]): Pair[] {
  const random = mulberry32(SEED);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const chosen = new Map<string, Pair>();
  const add = (a: string | undefined, b: string | undefined): boolean => {
    if (a === undefined || b === undefined || a === b) return false;
    const key = a < b ? `${a}\n${b}` : `${b}\n${a}`;
    if (chosen.has(key)) return false;
    chosen.set(key, [a, b]);
    return true;
  };
  const fill = (target: number, next: () => readonly [string | undefined, string | undefined]): void => {
    const goal = chosen.size + target;
    for (let tries = 0; chosen.size < goal && tries < target * 10; tries++) {
      const [a, b] = next();
      add(a, b);
    }
  };

  // Neighbours share long prefixes, so they differ in the last few characters.
  const stride = Math.max(1, Math.floor(versions.length / 3500));
  for (let i = 0; i + 1 < versions.length; i += stride) add(versions[i], versions[i + 1]);
  fill(2500, () => [pick(versions), pick(versions)]);

  const index = new Map(versions.map((v, i) => [v, i]));
  const near = (v: string): string | undefined => {
    const i = index.get(v) ?? 0;
    return versions[Math.min(versions.length - 1, Math.max(0, i + Math.floor(random() * 7) - 3))];
  };

  const byUpstream = new Map<string, string[]>();
  for (const v of versions) {
    const hyphen = v.lastIndexOf('-');
    if (hyphen < 0) continue;
    const key = v.slice(0, hyphen);
    byUpstream.set(key, [...(byUpstream.get(key) ?? []), v]);
  }
  const families = [...byUpstream.values()].filter((l) => l.length > 1);
  fill(1500, () => {
    const family = pick(families);
    return [pick(family), pick(family)];
  });

  const epochs = versions.filter((v) => v.includes(':'));
  fill(1500, () => {
    const v = pick(epochs);
    return [v, random() < 0.5 ? pick(epochs) : (near(v.slice(v.indexOf(':') + 1)) ?? pick(versions))];
  });

  for (const mark of ['~', '+']) {
    const marked = versions.filter((v) => v.includes(mark));
    fill(1500, () => {
      const v = pick(marked);
      const base = v.slice(0, v.indexOf(mark));
      return [v, index.has(base) && random() < 0.3 ? base : near(v)];
    });
  }
  return [...chosen.values()];
}

/** Variants that differ as strings but compare equal in dpkg: an explicit epoch 0, extra leading zeros. */
function equalVariants(versions: readonly string[]): Pair[] {
  const random = mulberry32(SEED + 1);
  const out: Pair[] = [];
  for (let i = 0; i < 300; i++) {
    const v = versions[Math.floor(random() * versions.length)] ?? '0';
    if (v.includes(':')) out.push([v, v.replace(/^(\d+):/, '0$1:')]);
    else out.push([v, `0:${v}`]);
    out.push([v, v.replace(/(\d+)(?!.*\d)/, '00$1')]);
  }
  return out;
}

/** dpkg's answer for each pair: -1, 0 or 1. Runs one shell script per core, each over a slice of pairs. */
async function dpkgOrder(pairs: readonly Pair[]): Promise<(-1 | 0 | 1)[]> {
  const jobs = Math.max(1, Math.min(availableParallelism(), 8));
  const size = Math.ceil(pairs.length / jobs);
  const slices: Pair[][] = [];
  for (let i = 0; i < pairs.length; i += size) slices.push(pairs.slice(i, i + size));
  const results = await Promise.all(slices.map((slice) => dpkgSlice(slice)));
  return results.flat();
}

async function dpkgSlice(pairs: readonly Pair[]): Promise<(-1 | 0 | 1)[]> {
  // `c A B` prints dpkg's relation; an exit status other than 0 or 1 is an error and prints E<status>.
  const script = [
    'c() {',
    '  dpkg --compare-versions "$1" lt "$2"; r=$?',
    '  if [ $r -eq 0 ]; then echo -1; return; fi',
    '  if [ $r -ne 1 ]; then echo "E$r"; return; fi',
    '  dpkg --compare-versions "$1" eq "$2"; r=$?',
    '  if [ $r -eq 0 ]; then echo 0; elif [ $r -eq 1 ]; then echo 1; else echo "E$r"; fi',
    '}',
    ...pairs.map(([a, b]) => `c ${shellQuote(a)} ${shellQuote(b)}`),
    '',
  ].join('\n');
  const { stdout, stderr, code } = await run('/bin/sh', ['-s'], script);
  assert.equal(code, 0, `sh exited with ${String(code)}: ${stderr}`);
  const lines = stdout.split('\n').slice(0, -1);
  assert.equal(
    lines.length,
    pairs.length,
    `dpkg gave ${lines.length} answers for ${pairs.length} pairs: ${stderr}`,
  );
  return lines.map((line, i) => {
    if (line === '-1' || line === '0' || line === '1') return Number(line) as -1 | 0 | 1;
    return assert.fail(`dpkg failed (${line}) on ${JSON.stringify(pairs[i])}: ${stderr}`);
  });
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function run(cmd: string, args: readonly string[], input: string) {
  return new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ stdout, stderr, code });
    });
    child.stdin.end(input);
  });
}

/** Small seeded PRNG, so the chosen pairs depend only on the index. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
