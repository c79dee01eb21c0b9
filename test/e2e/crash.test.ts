/**
 * Crash safety: SIGKILL ferry at many points while it builds, installs and switches, then check that nothing
 * half-done is visible and that the next run recovers.
 *
 * Each phase measures (median of three) how long ferry takes to start and how long one uninterrupted run of
 * its command takes, then kills the same kind of run at delays spread evenly from half the start-up time to
 * just past the end (one per stratum, at a point within it drawn from a seeded PRNG, so a run is reproducible
 * up to scheduling noise; FERRY_CRASH_SEED changes the seed, FERRY_CRASH_SCALE the number of kills). Every step has work to do: the build phase alternates an upgrade and a downgrade and garbage-collects
 * the other release after each, so both of its packages are rebuilt every time; the install phase alternates
 * between two releases already in the store (a new generation each time); the switch phase alternates
 * `rollback` and `switch --to`.
 *
 * After each kill, before anything cleans up:
 *  - no process the killed ferry started (bwrap, make) outlives it;
 *  - every store entry named like a store path is a read-only directory with metadata that names it;
 *  - every generation directory has a complete manifest whose store paths all exist;
 *  - the profile is on the generation it was on before, or on the one the command was making, and the
 *    profile's `hello` runs and greets with the libgreet that generation holds.
 * Then `ferry verify` exits 0 with no problems and clears temporary outputs, and the same command run again
 * (over the killed run's stale locks) succeeds and leaves the profile on the requested release.
 *
 * The windows inside registering a store path are a few milliseconds wide, too narrow to hit by timing. The
 * last tests widen them with a package of many files and kill ferry the moment the file system shows it is
 * inside one.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  killAfter,
  killWhen,
  type KillOutcome,
  listTree,
  runProgram,
  seededRandom,
  waitForNoProcesses,
} from '../helpers/crash.js';
import {
  examplePorts,
  makeSandbox,
  writeRecipe,
  writeSource,
  type CliResult,
  type Sandboxed,
} from '../helpers/cli.js';

const SEED = Number.parseInt(process.env.FERRY_CRASH_SEED ?? '', 10) || 0x0c4a54;
const SCALE = Number.parseFloat(process.env.FERRY_CRASH_SCALE ?? '') || 1;
const PORTS = ['--ports', examplePorts] as const;

/** The two example releases: what to ask for, and what the profile's `hello` prints once it is current. */
interface Release {
  readonly label: string;
  readonly version: string;
  readonly specs: readonly string[];
  readonly greeting: string;
}
const V1: Release = {
  label: 'v1',
  version: '1.0',
  specs: ['hello < 2', 'libgreet < 2'],
  greeting: 'hello, world (libgreet 1.0)',
};
const V2: Release = {
  label: 'v2',
  version: '2.0',
  specs: ['hello', 'libgreet'],
  greeting: 'HELLO, world! (libgreet 2.0)',
};

/** A directory name that looks like a store path: `<32 chars>-<name>-<version>`. */
const STORE_PATH_RE = /^[0-9a-z]{32}-.+-[^-]+$/;

interface Manifest {
  readonly formatVersion: number;
  readonly number: number;
  readonly packages: readonly { readonly name: string; readonly version: string; readonly storeId: string }[];
}

interface Step {
  readonly args: readonly string[];
  readonly target: Release;
  /** Where the profile may land besides where it was: this generation, or any above the highest before. */
  readonly landsOn: number | 'new';
  /** What finishes the step once the profile is already there, when `args` would not (rollback). */
  readonly argsWhenDone?: readonly string[];
}

interface PhaseOptions {
  readonly name: string;
  readonly iterations: number;
  readonly timing: Timing;
  readonly step: (i: number) => Step;
  /** Run after the recovered step, to give the next one work again. */
  readonly after?: () => Promise<void>;
}

interface Tally {
  iterations: number;
  finishedFirst: number;
  onOld: number;
  onNew: number;
  cleaned: number;
  minDelay: number;
  maxDelay: number;
  /** Traces of interrupted work found right after the kills, with hashes and numbers starred out. */
  seen: Set<string>;
  /** Such traces still there after verify and the recovered run. */
  leftovers: Set<string>;
}

const pattern = (rel: string) =>
  rel.replace(/\.(tmp|stale)-[^/]*/g, '.$1-*').replace(/[0-9a-z]{32}(?=-)|(?<=\/)\d+$/g, '*');

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} failed (${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function timed(sb: Sandboxed, args: readonly string[]): Promise<number> {
  const start = performance.now();
  ok(await sb.ferry(args), `ferry ${args.join(' ')}`);
  return performance.now() - start;
}

/** A re-run that takes longer than this is taken to be wedged on the killed run's lock. */
const RECOVERY_LIMIT_MS = 30_000;

/** Run ferry to completion and require success within `limitMs` (SIGKILL and fail after that). */
async function finishWithin(
  sb: Sandboxed,
  args: readonly string[],
  limitMs: number,
  what: string,
): Promise<KillOutcome> {
  const r = await killAfter(sb.spawnFerry(args), performance.now(), limitMs);
  assert.ok(!r.killed, `${what} did not finish within ${limitMs} ms (wedged on a stale lock?):\n${r.stderr}`);
  assert.equal(r.code, 0, `${what} failed (${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Median run times in milliseconds. */
interface Timing {
  /** Of a command that only starts and reads (`ferry generations`): before this, a kill finds nothing begun. */
  readonly startupMs: number;
  /** Of each release's step, uninterrupted. */
  readonly stepMs: ReadonlyMap<Release, number>;
}

/** Time `rounds` uninterrupted runs of each step (`reset` after each gives the next one work again). */
async function measure(
  sb: Sandboxed,
  steps: readonly Step[],
  reset: () => Promise<void> = () => Promise.resolve(),
  rounds = 3,
): Promise<Timing> {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const times = new Map<Release, number[]>();
  const startup: number[] = [];
  for (let round = 0; round < rounds; round++) {
    startup.push(await timed(sb, ['generations']));
    for (const step of steps) {
      times.set(step.target, [...(times.get(step.target) ?? []), await timed(sb, step.args)]);
      await reset();
    }
  }
  return { startupMs: median(startup), stepMs: new Map([...times].map(([r, xs]) => [r, median(xs)])) };
}

function releaseOf(m: Manifest, where: string): Release {
  const version = (name: string) => m.packages.find((p) => p.name === name)?.version;
  const found = [V1, V2].find((r) => version('hello') === r.version && version('libgreet') === r.version);
  assert.ok(found, `${where} holds hello ${version('hello')} and libgreet ${version('libgreet')}`);
  return found;
}

async function readManifest(root: string, n: number): Promise<Manifest> {
  const file = join(root, 'profiles', 'default.d', String(n), '.generation.json');
  const text = await fs.readFile(file, 'utf8').catch((e: unknown) => {
    assert.fail(`generation ${n} is visible without a manifest: ${String(e)}`);
  });
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    assert.fail(`generation ${n} has a torn manifest (${String(e)}): ${JSON.stringify(text)}`);
  }
  assert.equal(m.formatVersion, 1, `generation ${n}: formatVersion`);
  assert.equal(m.number, n, `generation ${n}: its manifest's number`);
  return m;
}

async function generationNumbers(root: string): Promise<number[]> {
  const names = await fs.readdir(join(root, 'profiles', 'default.d')).catch(() => []);
  return names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

async function currentGeneration(root: string): Promise<number | undefined> {
  let target: string;
  try {
    target = await fs.readlink(join(root, 'profiles', 'default'));
  } catch {
    return undefined;
  }
  const m = /^default\.d\/(\d+)$/.exec(target);
  assert.ok(m?.[1], `profiles/default points to ${target}, not default.d/<N>`);
  return Number(m[1]);
}

/**
 * Every entry in the store that is named like a store path is a registered, read-only directory whose
 * metadata exists and names it. Returns how many there are.
 */
async function checkStorePaths(root: string): Promise<number> {
  const storeDir = join(root, 'store');
  let count = 0;
  for (const name of await fs.readdir(storeDir)) {
    if (name.startsWith('.')) continue;
    assert.match(name, STORE_PATH_RE, `unexpected entry store/${name}`);
    count++;
    const st = await fs.lstat(join(storeDir, name));
    assert.ok(st.isDirectory(), `store/${name} is not a directory`);
    assert.equal(st.mode & 0o222, 0, `store/${name} is writable (mode ${(st.mode & 0o777).toString(8)})`);
    const metaFile = join(storeDir, '.meta', `${name}.json`);
    const text = await fs.readFile(metaFile, 'utf8').catch((e: unknown) => {
      assert.fail(`store/${name} is visible without metadata: ${String(e)}`);
    });
    const meta = JSON.parse(text) as { id?: unknown; files?: unknown };
    assert.equal(meta.id, name, `metadata of store/${name} names ${String(meta.id)}`);
    assert.equal(typeof meta.files, 'object', `metadata of store/${name} has no file list`);
  }
  return count;
}

/** Every visible generation is complete and refers only to registered store paths. */
async function checkGenerations(root: string): Promise<void> {
  for (const n of await generationNumbers(root)) {
    const m = await readManifest(root, n);
    for (const p of m.packages) {
      const st = await fs.lstat(join(root, 'store', p.storeId)).catch(() => undefined);
      assert.ok(st?.isDirectory(), `generation ${n} needs ${p.storeId}, which is not in the store`);
    }
    releaseOf(m, `generation ${n}`);
  }
}

/** The profile is where it was or where the step was taking it, and its `hello` runs and agrees. */
async function checkProfile(
  sb: Sandboxed,
  before: { current: number | undefined; highest: number; release: Release | undefined },
  step: Step,
): Promise<'old' | 'new'> {
  const current = await currentGeneration(sb.root);
  let landed: 'old' | 'new';
  let release: Release | undefined;
  if (current === before.current) {
    landed = 'old';
    release = current === undefined ? undefined : releaseOf(await readManifest(sb.root, current), 'old');
    assert.equal(release, before.release, `generation ${current} changed its contents`);
  } else {
    landed = 'new';
    assert.ok(current !== undefined, 'the profile vanished');
    if (step.landsOn === 'new')
      assert.ok(current > before.highest, `the profile is on ${current}, neither ${before.current} nor new`);
    else
      assert.equal(
        current,
        step.landsOn,
        `the profile is on ${current}, neither ${before.current} nor target`,
      );
    release = releaseOf(await readManifest(sb.root, current), `generation ${current}`);
    assert.equal(
      release,
      step.target,
      `generation ${current} holds ${release.label}, not ${step.target.label}`,
    );
  }
  if (release !== undefined)
    assert.equal(
      await runProgram(join(sb.root, 'profiles', 'default', 'bin', 'hello'), sb.env),
      release.greeting,
      `profile hello on generation ${current}`,
    );
  return landed;
}

/** What interrupted work left behind that nothing has cleaned up yet (names only, for the report). */
async function leftovers(root: string): Promise<string[]> {
  const storeDir = join(root, 'store');
  const registered = new Set((await fs.readdir(storeDir)).filter((n) => STORE_PATH_RE.test(n)));
  const all = await listTree(
    root,
    (rel) => /^store\/[^.]/.test(rel) || /^profiles\/default\.d\/\d+$/.test(rel),
  );
  return all.filter((rel) => {
    const base = rel.split('/').pop() ?? '';
    if (/^store\/\.locks\/./.test(rel)) return !rel.slice('store/.locks/'.length).includes('/');
    if (/^store\/\.meta\/./.test(rel)) return !registered.has(base.replace(/\.json$/, ''));
    if (/^build\/[^/]+$/.test(rel)) return true;
    if (rel === 'profiles/default.d/.lock') return true;
    return /^\.(tmp|trash|stale)-|\.stale-/.test(base);
  });
}

async function crashLoop(t: TestContext, sb: Sandboxed, opts: PhaseOptions): Promise<Tally> {
  let salt = 7;
  for (let k = 0; k < opts.name.length; k++) salt = Math.imul(salt, 31) + opts.name.charCodeAt(k);
  const random = seededRandom(SEED ^ salt);
  const tally: Tally = {
    iterations: 0,
    finishedFirst: 0,
    onOld: 0,
    onNew: 0,
    cleaned: 0,
    minDelay: Infinity,
    maxDelay: 0,
    seen: new Set(),
    leftovers: new Set(),
  };
  for (let i = 0; i < opts.iterations; i++) {
    const step = opts.step(i);
    const what = `${opts.name} #${i} (ferry ${step.args.join(' ')})`;
    const current = await currentGeneration(sb.root);
    const before = {
      current,
      highest: Math.max(0, ...(await generationNumbers(sb.root))),
      release: current === undefined ? undefined : releaseOf(await readManifest(sb.root, current), 'before'),
    };
    // One kill per stratum from half the start-up time to a little past the end of an uninterrupted run,
    // at a seeded point within the stratum: most land while ferry works, a few before it has begun, a few
    // (as run times vary) after it has switched or exited.
    const from = opts.timing.startupMs / 2;
    const to = Math.max(from + 1, 1.1 * (opts.timing.stepMs.get(step.target) ?? 0));
    const delay = Math.round(from + ((to - from) * (i + random())) / opts.iterations);
    tally.minDelay = Math.min(tally.minDelay, delay);
    tally.maxDelay = Math.max(tally.maxDelay, delay);

    const startedAt = performance.now();
    const outcome = await killAfter(sb.spawnFerry(step.args), startedAt, delay);
    if (!outcome.killed) {
      assert.equal(outcome.code, 0, `${what} finished before the kill, and failed:\n${outcome.stderr}`);
      tally.finishedFirst++;
    }
    assert.deepEqual(await waitForNoProcesses(sb.root, 3000), [], `${what}: processes outlived ferry`);

    for (const l of await leftovers(sb.root)) tally.seen.add(pattern(l));
    let landed: 'old' | 'new';
    try {
      await checkStorePaths(sb.root);
      await checkGenerations(sb.root);
      landed = await checkProfile(sb, before, step);
      if (landed === 'old') tally.onOld++;
      else tally.onNew++;

      const v = ok(await sb.ferry(['verify', '--json']), `${what}: verify after the kill at ${delay} ms`);
      const report = JSON.parse(v.stdout) as { checked: number; problems: unknown[]; cleaned: string[] };
      assert.deepEqual(report.problems, [], `${what}: verify problems`);
      assert.equal(
        report.checked,
        await checkStorePaths(sb.root),
        `${what}: verify checked every store path`,
      );
      tally.cleaned += report.cleaned.length;
      const unclean = (await fs.readdir(join(sb.root, 'store'))).filter((n) => /^\.(tmp|trash)-/.test(n));
      assert.deepEqual(unclean, [], `${what}: verify left temporary outputs`);
    } catch (e) {
      t.diagnostic(
        `${what}: killed=${outcome.killed} after ${Math.round(outcome.ranMs)} ms (aimed ${delay})`,
      );
      throw e;
    }

    const rerun = landed === 'new' ? (step.argsWhenDone ?? step.args) : step.args;
    const again = await finishWithin(
      sb,
      rerun,
      RECOVERY_LIMIT_MS,
      `${what}: the run after the kill at ${delay} ms`,
    );
    const now = await currentGeneration(sb.root);
    assert.ok(now !== undefined, `${what}: no profile after the re-run:\n${again.stderr}`);
    assert.equal(releaseOf(await readManifest(sb.root, now), `generation ${now}`), step.target, what);
    assert.equal(
      await runProgram(join(sb.root, 'profiles', 'default', 'bin', 'hello'), sb.env),
      step.target.greeting,
      `${what}: hello after the re-run`,
    );
    for (const l of await leftovers(sb.root)) tally.leftovers.add(pattern(l));
    await opts.after?.();
    tally.iterations++;
  }
  ok(await sb.ferry(['verify']), `${opts.name}: final verify`);
  t.diagnostic(
    `${opts.name}: ${tally.iterations} kills at ${tally.minDelay}–${tally.maxDelay} ms ` +
      `(uninterrupted: start-up ${Math.round(opts.timing.startupMs)} ms, ` +
      `${[...opts.timing.stepMs].map(([r, ms]) => `${r.label} ${Math.round(ms)} ms`).join(', ')}); ` +
      `profile left on the old generation ${tally.onOld}×, on the new one ${tally.onNew}×, ` +
      `${tally.finishedFirst} finished before the kill; verify removed ${tally.cleaned} leftover(s)`,
  );
  t.diagnostic(
    `${opts.name}: traces of interrupted work seen: ${[...tally.seen].sort().join(', ') || 'none'}`,
  );
  if (tally.leftovers.size > 0)
    t.diagnostic(`${opts.name}: left behind after recovery: ${[...tally.leftovers].sort().join(', ')}`);
  return tally;
}

const install = (r: Release): Step => ({
  args: [...PORTS, 'install', ...r.specs],
  target: r,
  landsOn: 'new',
});

describe('crash safety', () => {
  let total = 0;
  const iterations = (n: number) => Math.max(2, Math.round(n * SCALE));

  test('SIGKILL while install builds: store and profile stay consistent', { timeout: 300_000 }, async (t) => {
    const sb = makeSandbox('ferry-crash-build-');
    try {
      const gc = async () => {
        ok(await sb.ferry(['gc', '--keep', '1']), 'gc');
      };
      ok(await sb.ferry([...PORTS, 'install', ...V1.specs]), 'first install');
      await gc();
      const tally = await crashLoop(t, sb, {
        name: 'build',
        iterations: iterations(18),
        timing: await measure(sb, [install(V2), install(V1)], gc),
        step: (i) => install(i % 2 === 0 ? V2 : V1),
        after: gc,
      });
      total += tally.iterations;
    } finally {
      await sb.cleanup();
    }
  });

  test('SIGKILL while install makes a generation from the store', { timeout: 300_000 }, async (t) => {
    const sb = makeSandbox('ferry-crash-install-');
    try {
      ok(await sb.ferry([...PORTS, 'install', ...V1.specs]), 'install v1');
      ok(await sb.ferry([...PORTS, 'install', ...V2.specs]), 'install v2');
      const tally = await crashLoop(t, sb, {
        name: 'install',
        iterations: iterations(22),
        timing: await measure(sb, [install(V1), install(V2)]),
        step: (i) => install(i % 2 === 0 ? V1 : V2),
      });
      total += tally.iterations;
    } finally {
      await sb.cleanup();
    }
  });

  test('SIGKILL while rollback and switch move the profile', { timeout: 300_000 }, async (t) => {
    const sb = makeSandbox('ferry-crash-switch-');
    try {
      ok(await sb.ferry([...PORTS, 'install', ...V1.specs]), 'install v1');
      ok(await sb.ferry([...PORTS, 'install', ...V2.specs]), 'install v2');
      const rollback: Step = {
        args: ['rollback'],
        target: V1,
        landsOn: 1,
        argsWhenDone: ['switch', '--to', '1'],
      };
      const forward: Step = { args: ['switch', '--to', '2'], target: V2, landsOn: 2 };
      const tally = await crashLoop(t, sb, {
        name: 'switch',
        iterations: iterations(22),
        timing: await measure(sb, [rollback, forward]),
        step: (i) => (i % 2 === 0 ? rollback : forward),
      });
      total += tally.iterations;
    } finally {
      await sb.cleanup();
    }
  });

  test('crash iterations in total', (t) => {
    t.diagnostic(`${total} SIGKILLs across build, install and switch (seed ${SEED}, scale ${SCALE})`);
    assert.ok(total >= Math.round(30 * SCALE), `only ${total} iterations ran`);
  });
});

/** Many files make registering (chmod of each) and removing the build tree long enough to kill ferry in. */
const MANY_FILES = `summary = "A package of many files"
license = "MIT"

[[source]]
path = "src"

[build]
system = "script"
script = '''
mkdir scratch
(cd scratch && seq 1 600 | xargs touch)
mkdir -p "$PREFIX/share/many"
cd "$PREFIX/share/many" && seq 1 600 | xargs touch
'''
`;

describe('crash windows inside registering a store path', () => {
  let sb: Sandboxed;
  let ports: string;
  /** What the killed runs left behind, for the tests that follow each scenario. */
  const found = { metadataWithoutPath: [] as string[], afterRecovery: [] as string[] };
  before(async () => {
    sb = makeSandbox('ferry-crash-window-');
    ports = join(sb.dir, 'ports');
    await writeRecipe(ports, 'many', '1.0', MANY_FILES);
    await writeSource(ports, 'many', 'src', { README: 'many files\n' });
  });
  after(async () => {
    await sb.cleanup();
  });

  const names = (sub: string) => {
    try {
      return readdirSync(join(sb.root, sub));
    } catch {
      return [];
    }
  };
  const hasPath = () => names('store').some((n) => n.endsWith('-many-1.0'));
  const hasMeta = () => names('store/.meta').some((n) => n.endsWith('-many-1.0.json'));
  const buildArgs = () => ['--ports', ports, 'build', 'many'];

  /** Kill `ferry build many` once `ready()` holds; retry (after gc) until the state is what `landed()` says. */
  async function killInWindow(
    t: TestContext,
    what: string,
    ready: () => boolean,
    landed: () => boolean,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await killWhen(sb.spawnFerry(buildArgs()), ready);
      assert.ok(
        outcome.killed,
        `${what}: ferry exited (${outcome.code}) before the window:\n${outcome.stderr}`,
      );
      assert.deepEqual(await waitForNoProcesses(sb.root, 3000), [], `${what}: processes outlived ferry`);
      if (landed()) {
        t.diagnostic(
          `${what}: killed inside the window after ${Math.round(outcome.ranMs)} ms (attempt ${attempt})`,
        );
        return;
      }
      assert.ok(attempt < 5, `${what}: ${attempt} kills all missed the window`);
      ok(await sb.ferry(['gc']), 'gc');
    }
  }

  async function verifyClean(what: string): Promise<{ checked: number; cleaned: string[] }> {
    const v = ok(await sb.ferry(['verify', '--json']), `${what}: verify`);
    const report = JSON.parse(v.stdout) as { checked: number; problems: unknown[]; cleaned: string[] };
    assert.deepEqual(report.problems, [], `${what}: verify problems`);
    assert.deepEqual(
      names('store').filter((n) => /^\.(tmp|trash)-/.test(n)),
      [],
      `${what}: temporary outputs after verify`,
    );
    return report;
  }

  test('killed between writing metadata and the rename: no path appears, verify passes, the re-run builds it', async (t) => {
    const what = 'kill after the metadata';
    await killInWindow(t, what, hasMeta, () => hasMeta() && !hasPath());
    assert.ok(
      names('store').some((n) => n.startsWith('.tmp-')),
      'the killed build left its output under a temporary name',
    );
    assert.equal(await checkStorePaths(sb.root), 0);
    const report = await verifyClean(what);
    assert.equal(report.checked, 0);
    assert.ok(
      report.cleaned.some((n) => n.startsWith('.tmp-')),
      `the temporary output is among what verify cleaned: ${report.cleaned.join(', ')}`,
    );
    assert.ok(
      report.cleaned.some((n) => n.startsWith('metadata ')),
      'and the orphaned metadata',
    );
    found.metadataWithoutPath = hasPath()
      ? []
      : names('store/.meta').filter((n) => n.endsWith('-many-1.0.json'));
    ok(await sb.ferry(buildArgs()), `${what}: re-run`);
    assert.equal(await checkStorePaths(sb.root), 1);
    await verifyClean(`${what}, re-run`);
  });

  test('… and verify removes the metadata of the path that never appeared', () => {
    assert.deepEqual(found.metadataWithoutPath, [], 'store/.meta after verify');
  });

  test('killed after the rename, before the lock is released: the path is whole, the re-run finds it', async (t) => {
    const what = 'kill after the rename';
    ok(await sb.ferry(['gc']), 'gc of the previous build');
    assert.equal(hasPath(), false);
    await killInWindow(
      t,
      what,
      hasPath,
      () => hasPath() && names('store/.locks').some((n) => n.endsWith('-many-1.0')),
    );
    assert.equal(await checkStorePaths(sb.root), 1);
    assert.equal((await verifyClean(what)).checked, 1);
    const again = ok(await sb.ferry(buildArgs()), `${what}: re-run`);
    assert.match(again.stdout, /present/);
    await verifyClean(`${what}, re-run`);
    found.afterRecovery = [
      ...names('store/.locks').map((n) => `store/.locks/${n}`),
      ...names('build').map((n) => `build/${n}`),
    ];
  });

  test('… and neither its lock nor its build tree outlives verify and the re-run', () => {
    assert.deepEqual(found.afterRecovery, [], 'leftovers after verify and the re-run');
  });
});
