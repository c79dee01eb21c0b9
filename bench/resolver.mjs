#!/usr/bin/env node
// @ts-check
/**
 * The resolver benchmark: the same install jobs, into an empty system, over Debian bookworm main amd64, with
 * ferry's solver, libsolv (python3-solv) and apt (libapt in-process through python3-apt, and `apt-get -s`).
 * Every solution is checked by bench/verify.mjs. See bench/README.md.
 *
 *   npx tsc -b && node bench/resolver.mjs [--runs N] [--loads N] [--warmup N] [--only JOB[,JOB…]] [--no-apt]
 *                                         [--index PATH] [--timeout SECONDS] [--no-write] [--solver PATH]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DebianIndex, findPackagesIndex, readIndex } from './debian-index.mjs';
import { aptGetSimulate, setupApt } from './peers/apt.mjs';
import { Verifier } from './verify.mjs';
import { writeReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';
const JOBS = ['nginx', 'postgresql', 'gnome-core', 'texlive-full', 'build-essential', 'important'];

const args = parseArgs(process.argv.slice(2));
const runs = Math.max(5, Number(args.runs ?? 10));
const loads = Math.max(1, Number(args.loads ?? 3));
const warmup = Math.max(0, Number(args.warmup ?? 5));
const timeoutMs = Number(args.timeout ?? 300) * 1000; // per job, all its runs
const arch = 'amd64';

const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);

// --- the index: the machine's bookworm main amd64 Packages, decompressed once for every tool ---------------
const source = args.index ?? findPackagesIndex('bookworm', 'main', arch);
const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const packages = join(work, 'Packages');
let t0 = performance.now();
const raw = readIndex(source);
const decompressMs = performance.now() - t0;
writeFileSync(packages, raw);
log(
  `index: ${source} (${(raw.length / 1e6).toFixed(1)} MB as text; decompressed in ${decompressMs.toFixed(0)} ms)`,
);

const index = new DebianIndex(raw, { arch });
const important = index.namesWithPriority('important');
const only = args.only === undefined ? JOBS : String(args.only).split(',');
/** @type {{ id: string, names: string[] }[]} */
const jobs = only.map((id) => ({ id, names: id === 'important' ? important : [id] }));
log(
  `jobs: ${jobs.map((j) => `${j.id}${j.names.length > 1 ? ` (${j.names.length} names)` : ''}`).join(', ')}`,
);

// ferry's adapter reading the compressed file itself, for reference (apt-helper decompressing through a pipe).
t0 = performance.now();
new DebianIndex(readIndex(source), { arch });
const ferryFromCompressedMs = performance.now() - t0;

t0 = performance.now();
const verifier = Verifier.fromFile(packages, arch);
log(`verifier: read ${verifier.stanzas.size} stanzas in ${(performance.now() - t0).toFixed(0)} ms`);

/** @type {Record<string, any>} */
const report = {
  date: new Date().toISOString(),
  machine: machine(),
  index: {
    source,
    bytes: raw.length,
    stanzas: index.size,
    decompressMs,
    ferryLoadFromCompressedMs: ferryFromCompressedMs,
  },
  runs,
  loads,
  warmup,
  jobs: jobs.map((j) => ({ id: j.id, names: j.names })),
  tools: {},
  notes: [],
};

// --- peers ------------------------------------------------------------------------------------------------
ensurePython('solv', 'python3-solv');
const libsolv = runPython(join(here, 'peers/libsolv.py'), { packages, arch, loads, runs, jobs }, process.env);
report.tools.libsolv = { version: libsolvVersion(), load: libsolv.load, jobs: verifyAll(libsolv.jobs) };

if (!args['no-apt']) {
  ensurePython('apt_pkg', 'python3-apt');
  log('apt: private configuration, apt-get update against a local copy of the index');
  const apt = setupApt(packages, arch);
  try {
    const lib = runPython(join(here, 'peers/libapt.py'), { runs, jobs }, apt.env);
    report.tools.libapt = {
      version: `libapt-pkg ${lib.apt}`,
      load: { minMs: lib.loadMinMs, firstMs: lib.loadFirstMs },
      jobs: verifyAll(lib.jobs),
    };
    /** @type {any[]} */
    const sim = [];
    for (const job of jobs) {
      log(`apt-get -s install ${job.id}…`);
      const r = aptGetSimulate(apt, job.names);
      sim.push({
        id: job.id,
        count: r.installed.length,
        wallMs: r.ms,
        installed: r.installed,
        error: r.error,
      });
    }
    report.tools['apt-get'] = { version: apt.version, jobs: verifyAll(sim) };
  } finally {
    apt.cleanup();
  }
}

// --- ferry ------------------------------------------------------------------------------------------------
const solverPath =
  args.solver === undefined
    ? join(here, '../dist/resolve/solver/index.js')
    : resolvePath(String(args.solver));
if (!existsSync(solverPath)) {
  report.notes.push('ferry: dist/resolve/solver/index.js is missing (run `npx tsc -b`): no ferry figures');
  log(report.notes.at(-1));
} else {
  report.tools.ferry = await runFerry();
  report.tools.ferry.jobs = verifyAll(report.tools.ferry.jobs);
}

rmSync(work, { recursive: true, force: true });

// --- report -----------------------------------------------------------------------------------------------
report.differences = differences(report);
const table = render(report);
process.stdout.write(`${table}\n`);
report.table = table;
for (const t of Object.values(report.tools)) for (const j of t.jobs) delete j.installed; // keep the file small
if (!args['no-write']) {
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  // A run with fewer jobs or tools, or another solver or index, does not replace the day's full figures.
  const partial = ['only', 'no-apt', 'solver', 'index'].some((k) => args[k] !== undefined);
  const file = join(dir, `resolver-${report.date.slice(0, 10)}${partial ? '-partial' : ''}.json`);
  await writeReport(file, report);
  log(`wrote ${file}`);
}

// ----------------------------------------------------------------------------------------------------------

/**
 * Runs each of ferry's jobs in its own worker thread (a fresh isolate: cold JIT, cold index, as a new `ferry`
 * process would be). A job that gives no answer within the timeout is recorded as such and the next goes on.
 */
async function runFerry() {
  /** @type {any[]} */
  const results = [];
  for (const job of jobs) {
    /** @type {any} */
    const m = await new Promise((resolve) => {
      const w = new Worker(join(here, 'ferry-worker.mjs'), {
        workerData: { packages, arch, loads, runs, warmup, job, solver: pathToFileURL(solverPath).href },
      });
      const timer = setTimeout(() => {
        void w.terminate();
        resolve({ id: job.id, kind: 'timeout', count: 0, error: `no answer within ${timeoutMs / 1000} s` });
      }, timeoutMs);
      w.once('message', (msg) => {
        clearTimeout(timer);
        void w.terminate();
        resolve(msg);
      });
      w.once('error', (e) => {
        clearTimeout(timer);
        resolve({ id: job.id, kind: 'error', count: 0, error: String(e?.stack ?? e) });
      });
    });
    results.push(m);
    if (m.error !== undefined) log(`ferry: ${job.id}: ${m.kind}: ${String(m.error).split('\n')[0]}`);
    else
      log(
        `ferry: ${job.id}: ${m.kind}, ${m.count} packages, load ${m.loadMs[0].toFixed(0)} ms, solve ${m.solveMinMs.toFixed(1)} ms (first ${m.solveFirstMs.toFixed(1)})`,
      );
  }
  const all = results.flatMap((m) => m.loadMs ?? []);
  const cold = results
    .map((m) => m.loadMs?.[0])
    .filter((x) => x !== undefined)
    .sort((a, b) => a - b);
  return {
    version: 'ferry (dist/resolve/solver)',
    load:
      all.length === 0
        ? undefined
        : { minMs: Math.min(...all), coldMedianMs: cold[Math.floor(cold.length / 2)] },
    jobs: results,
  };
}

/**
 * Per job, how ferry's install set differs from each peer's, by package name (versions agree: one per name and
 * every tool takes the newest): the names only ferry installs and the names only the peer installs.
 * @param {any} r
 */
function differences(r) {
  /** @type {Record<string, Record<string, { same: number, onlyFerry: string[], onlyPeer: string[] }>>} */
  const out = {};
  const names = (/** @type {any} */ j) =>
    new Set((j?.installed ?? []).map((/** @type {string} */ k) => k.split('=')[0]));
  for (const job of r.jobs) {
    const mine = names(r.tools.ferry?.jobs.find((/** @type {any} */ j) => j.id === job.id));
    if (mine.size === 0) continue;
    out[job.id] = {};
    for (const peer of ['libsolv', 'libapt', 'apt-get']) {
      const theirs = names(r.tools[peer]?.jobs.find((/** @type {any} */ j) => j.id === job.id));
      if (theirs.size === 0) continue;
      out[job.id][peer] = {
        same: [...mine].filter((n) => theirs.has(n)).length,
        onlyFerry: [...mine].filter((n) => !theirs.has(n)).sort(),
        onlyPeer: [...theirs].filter((n) => !mine.has(n)).sort(),
      };
    }
  }
  return out;
}

/** Adds the verifier's verdict to each job that has an install set. @param {any[]} list */
function verifyAll(list) {
  for (const j of list) {
    if (
      !Array.isArray(j.installed) ||
      j.error !== undefined ||
      (j.problems ?? []).length > 0 ||
      j.kind === 'unsat'
    )
      continue;
    const names = jobs.find((x) => x.id === j.id)?.names ?? [];
    const v = verifier.verify(j.installed, names);
    j.verify = {
      ok: v.ok,
      errors: v.errors.slice(0, 20),
      errorCount: v.errors.length,
      unneeded: v.unneeded.length,
    };
  }
  return list;
}

/** The table: one row per job and tool. @param {any} r */
function render(r) {
  const rows = [
    [
      'job',
      'tool',
      'pkgs',
      'load ms',
      'solve ms',
      '1st solve',
      'total ms',
      'verified',
      'solve/ls',
      'total/ls',
    ],
  ];
  const f = (/** @type {number | undefined} */ x) =>
    x === undefined || !Number.isFinite(x) ? '-' : x < 10 ? x.toFixed(1) : x.toFixed(0);
  const ratio = (/** @type {number} */ a, /** @type {number} */ b) =>
    Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
  /** @type {string[]} */
  const verdicts = [];
  for (const job of r.jobs) {
    const ls = r.tools.libsolv?.jobs.find((/** @type {any} */ j) => j.id === job.id);
    const lsLoad = r.tools.libsolv?.load.minMs;
    const lsTotal = lsLoad + ls?.solveFirstMs;
    for (const tool of ['ferry', 'libsolv', 'libapt', 'apt-get']) {
      const t = r.tools[tool];
      if (t === undefined) continue;
      const j = t.jobs.find((/** @type {any} */ x) => x.id === job.id);
      if (j === undefined) continue;
      // ferry: this job's own cold load (its worker's first), so that total is what one cold process pays.
      const load = tool === 'ferry' ? j.loadMs?.[0] : t.load?.minMs;
      const total = tool === 'apt-get' ? j.wallMs : load + j.solveFirstMs;
      const ver =
        j.verify === undefined
          ? j.kind && j.kind !== 'sat'
            ? j.kind
            : j.error
              ? 'error'
              : (j.problems ?? []).length
                ? 'unsat'
                : '-'
          : j.verify.ok
            ? `ok${j.verify.unneeded ? ` (+${j.verify.unneeded} unneeded)` : ''}`
            : `FAIL (${j.verify.errorCount})`;
      const isFerry = tool === 'ferry';
      rows.push([
        job.id + (job.names.length > 1 ? ` (${job.names.length})` : ''),
        tool,
        String(j.count ?? '-'),
        f(load),
        f(j.solveMinMs),
        f(j.solveFirstMs),
        f(total),
        ver,
        isFerry ? ratio(j.solveMinMs, ls?.solveMinMs) : '',
        isFerry ? ratio(total, lsTotal) : '',
      ]);
      if (isFerry) {
        const sr = j.solveMinMs / ls?.solveMinMs;
        const tr = total / lsTotal;
        const ok = j.verify?.ok === true && sr <= 2 && tr <= 3;
        verdicts.push(
          `${job.id}: ${ok ? 'meets' : 'MISSES'} the target (solve ${ratio(j.solveMinMs, ls?.solveMinMs)} ≤ 2x, total ${ratio(total, lsTotal)} ≤ 3x, verified ${j.verify?.ok === true ? 'yes' : 'NO'})`,
        );
      }
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (/** @type {string[]} */ row) =>
    row
      .map((cell, c) => (c < 2 || c === 7 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  let prev = '';
  for (const row of rows.slice(1)) {
    if (prev !== '' && row[0] !== prev) out.push('');
    prev = row[0];
    out.push(line(row));
  }
  out.push('');
  out.push(
    `load: ferry = read the file + index it, cold (the job's fresh isolate; warm minimum ${f(r.tools.ferry?.load?.minMs)}); libsolv = add_debpackages + createwhatprovides (min of ${r.loads}); libapt = open its binary cache (min).`,
  );
  out.push(
    `solve: min of ${r.runs} runs, a fresh solver each (ferry: after ${r.warmup} untimed runs). 1st solve: the first run (ferry: in a fresh isolate, cold JIT, candidates parsed as the search asks for them). total = load + 1st solve. apt-get: one process, wall time.`,
  );
  if (r.index.ferryLoadFromCompressedMs !== undefined)
    out.push(
      `ferry reading the .lz4 itself through apt-helper: ${f(r.index.ferryLoadFromCompressedMs)} ms (the table's tools all read the same decompressed text).`,
    );
  for (const n of r.notes) out.push(n);
  if (verdicts.length > 0) out.push('', ...verdicts);
  const searched = (r.tools.ferry?.jobs ?? []).filter((/** @type {any} */ j) => j.stats !== undefined);
  if (searched.length > 0) {
    out.push(
      '',
      'ferry search (last run): candidates loaded, clauses, decisions, conflicts, learned clauses',
    );
    for (const j of searched) {
      const s = j.stats;
      out.push(
        `  ${j.id}: ${s.candidatesLoaded}, ${s.clauses}, ${s.decisions}, ${s.conflicts}, ${s.learned}`,
      );
    }
  }
  const diffs = Object.entries(r.differences ?? {});
  if (diffs.length > 0) {
    out.push(
      '',
      'install sets by name, ferry vs libsolv and vs apt-get: same names, +only ferry / -only the peer',
    );
    const show = (/** @type {string[]} */ l) =>
      l.length <= 4 ? l.join(' ') : `${l.slice(0, 4).join(' ')} …`;
    for (const [id, d] of diffs) {
      const part = (/** @type {string} */ peer) => {
        const x = d[peer];
        if (x === undefined) return `${peer} -`;
        return `${peer} ${x.same} +${x.onlyFerry.length} -${x.onlyPeer.length}${x.onlyFerry.length + x.onlyPeer.length > 0 ? ` (+${show(x.onlyFerry)} / -${show(x.onlyPeer)})` : ''}`;
      };
      out.push(`  ${id}: ${part('libsolv')}; ${part('apt-get')}`);
    }
  }
  for (const t of ['ferry', 'libsolv', 'libapt', 'apt-get'])
    for (const j of r.tools[t]?.jobs ?? []) {
      if (j.verify !== undefined && !j.verify.ok)
        out.push(`${t} ${j.id}: verifier: ${j.verify.errors.slice(0, 5).join('; ')}`);
      if (j.error !== undefined) out.push(`${t} ${j.id}: ${String(j.error).split('\n')[0]}`);
      if (j.explanation !== undefined)
        out.push(`${t} ${j.id}: unsat: ${String(j.explanation).split('\n').slice(0, 6).join(' / ')}`);
      if ((j.problems ?? []).length > 0)
        out.push(`${t} ${j.id}: problems: ${j.problems.slice(0, 2).join(' / ')}`);
    }
  return out.join('\n');
}

/** Makes sure /usr/bin/python3 can import `module`, installing the Debian package when it cannot. */
function ensurePython(module, pkg) {
  if (spawnSync(PY, ['-c', `import ${module}`]).status === 0) return;
  log(`${pkg} is missing: installing it with apt-get (Debian's ${PY} imports it)`);
  report.notes.push(`installed ${pkg} with apt-get`);
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Runs a peer script with a JSON request on stdin and parses its JSON answer. */
function runPython(script, request, env) {
  log(`${script.split('/').slice(-2).join('/')}…`);
  const r = spawnSync(PY, [script], { input: JSON.stringify(request), env, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString());
}

function libsolvVersion() {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'python3-solv']);
  return `libsolv (python3-solv ${r.stdout.toString().trim() || '?'})`;
}

function machine() {
  const cpu = spawnSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])
    .stdout.toString()
    .trim();
  return { node: process.version, cpu, cpus: Number(spawnSync('nproc').stdout.toString().trim()) };
}

/** --key value and --flag. @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string | true>} */
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (['no-apt', 'no-write'].includes(key)) out[key] = true;
    else out[key] = argv[++i];
  }
  return out;
}
