#!/usr/bin/env node
// @ts-check
/**
 * The binary cache benchmark: installing the same synthetic closure (50 packages, 200 MB, ~3,500 files by
 * default) from a binary cache with ferry (file:// and HTTP on loopback) and with Nix 2.8 from Debian's
 * packages (`nix copy` from a file:// cache), side by side in one run; plus ferry's no-op install. Every install
 * is checked against the built trees. See bench/README.md, "Binary cache benchmark".
 *
 *   npm run build && node bench/cache.mjs [--packages N] [--mb N] [--runs N] [--noop-runs N] [--no-nix]
 *                                      [--no-nginx] [--keep] [--no-write] [--ferry PATH/TO/main.js]
 *   node bench/cache.mjs --render bench/results/cache-DATE.json     (re-print a saved result's table)
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOP, planClosure, writeClosure } from './cache/closure.mjs';
import { FerryCli, snapshotFerry } from './cache/ferry.mjs';
import { hasRoomFor, letFreedInodesAge, nodeStart, pkgKey, stats, treeDigest } from './cache/measure.mjs';
import { NixPeer, ensureNix } from './cache/nix.mjs';
import { ensureNginx, freePort, startNginx } from './cache/servers.mjs';
import { writeReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const opt = {
  packages: Math.max(2, Number(args.packages ?? 50)),
  mb: Math.max(1, Number(args.mb ?? 200)),
  runs: Math.max(3, Number(args.runs ?? 5)),
  noopRuns: Math.max(10, Number(args['noop-runs'] ?? 20)),
  nix: args['no-nix'] === undefined,
  nginx: args['no-nginx'] === undefined,
  keep: args.keep !== undefined,
  ferry: resolvePath(String(args.ferry ?? join(here, '../dist/ferry.cjs'))),
};
const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);

if (args.render !== undefined) {
  // Re-print the table of a saved result (with this version of the renderer), and do nothing else.
  process.stdout.write(`${render(JSON.parse(readFileSync(String(args.render), 'utf8')))}\n`);
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'ferry-cache-bench-'));
/** @type {Record<string, any>} */
const report = {
  date: new Date().toISOString(),
  machine: machine(),
  loadavgAtEnd: '',
  options: { ...opt, ferry: undefined },
  closure: {},
  tools: {},
  cases: [],
  notes: [
    'Everything runs warm: the caches, the tools and the host binaries are in the page cache (one untimed run of every case first). Dropping caches is not done on a shared machine.',
  ],
};
/** @type {{ stop(): Promise<void> }[]} */
const servers = [];
/** @type {Case[]} the timed cases, filled as they run (a run that aborts still reports what it measured) */
const cases = [];
/** @type {{ id: string, label: string, times: number[], newGenerations?: number }[]} */
const noops = [];
let failed = false;

/** @typedef {{ id: string, tool: string, label: string, url: string, cacheMb: number, times: number[],
 *   user: number[], sys: number[], rss: number[], installed: Record<string, number>,
 *   run(dst: string): { ms: number, userS?: number, sysS?: number, maxRssMb?: number, problems: string[],
 *     packages: number, files: number, bytes: number } }} Case */

try {
  await main();
} catch (e) {
  failed = true;
  report.notes.push(`aborted: ${String(e instanceof Error ? e.message : e)}`);
  log(`error: ${e instanceof Error ? e.stack : e}`);
} finally {
  for (const s of servers) await s.stop();
  summarize();
  report.loadavgAtEnd = loadavg();
  if (opt.keep) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
await output();
process.exitCode = failed ? 1 : 0;

// ----------------------------------------------------------------------------------------------------------

async function main() {
  // --- the closure --------------------------------------------------------------------------------------
  const pkgs = planClosure(opt.packages, opt.mb);
  writeClosure(work, pkgs);
  const ports = join(work, 'ports');
  report.closure = {
    packages: pkgs.length,
    plannedMb: opt.mb,
    edges: pkgs.reduce((n, p) => n + p.deps.length, 0),
    topDirectDeps: pkgs.at(-1)?.deps.length,
  };
  log(
    `closure: ${pkgs.length} packages, ${report.closure.edges} dependency edges, ~${opt.mb} MB, in ${work}`,
  );

  // --- ferry: build the closure (untimed), the reference trees for every check ---------------------------
  const snap = snapshotFerry(opt.ferry, join(work, 'ferry-snapshot'));
  const ferry = new FerryCli(snap.main, ports);
  report.tools.ferry = { revision: snap.revision };
  const builtRoot = join(work, 'ferry-built');
  /** @type {Map<string, string>} `<name>-<version>` → tree digest of the built store path */
  let digests = new Map();
  let ferryOk = false;
  try {
    log('ferry build (untimed fixture)…');
    const b = ferry.build(builtRoot, TOP);
    if (b.note !== undefined) report.notes.push(b.note);
    Object.assign(report.tools.ferry, {
      buildMs: b.ms,
      sandbox: ferry.buildOpts.length === 0 ? 'bwrap' : 'off',
    });
    const built = ferry.storePaths(builtRoot);
    let files = 0;
    let bytes = 0;
    for (const [key, path] of built) {
      const d = treeDigest(path);
      digests.set(key, d.digest);
      files += d.files;
      bytes += d.bytes;
    }
    Object.assign(report.closure, { files, bytes, mb: bytes / 1e6 });
    log(
      `  built ${built.size} store paths, ${files} files, ${(bytes / 1e6).toFixed(1)} MB in ${(b.ms / 1000).toFixed(1)} s`,
    );
    ferryOk = true;
  } catch (e) {
    report.notes.push(
      `ferry could not build the closure: ${String(e instanceof Error ? e.message : e)
        .split('\n')
        .slice(0, 4)
        .join(' / ')}`,
    );
    log(report.notes.at(-1));
  }

  // --- Nix: build the same closure, fill the file:// caches --------------------------------------------------
  /** @type {NixPeer | undefined} */
  let nix;
  /** @type {{ top: string, paths: string[] } | undefined} */
  let nixBuilt;
  /** @type {Record<string, { dir: string, pushMs: number, bytes: number }>} */
  const nixCaches = {};
  if (opt.nix) {
    try {
      const note = ensureNix(log);
      if (note !== undefined) report.notes.push(note);
      nix = new NixPeer(join(work, 'nix'));
      log(`${nix.version}: nix-build closure.nix (untimed fixture)…`);
      const t0 = performance.now();
      nixBuilt = nix.build(join(work, 'closure.nix'));
      report.tools.nix = { version: nix.version, buildMs: performance.now() - t0, caches: {} };
      const same = compareWithFerry(nixBuilt.paths, digests);
      if (!ferryOk) digests = same.digests; // without ferry's build, Nix's trees are the reference
      report.closure.identicalTrees = ferryOk ? same.identical : undefined;
      if (ferryOk && same.identical !== same.total)
        throw new Error(`Nix built ${same.total - same.identical} trees that differ from ferry's`);
      nix.makeKey();
      // gzip: the algorithm ferry uses (the like-for-like row). zstd and none: Nix's fastest settings.
      // xz, Nix's default, is left out: it packs at a few MB/s and unpacks slower than all three.
      for (const c of ['gzip', 'zstd', 'none']) {
        const dir = join(work, `nix-cache-${c}`);
        const pushMs = nix.push(nixBuilt.top, dir, c);
        nixCaches[c] = { dir, pushMs, bytes: dirBytes(join(dir, 'nar')) };
        report.tools.nix.caches[c] = { pushMs, mb: nixCaches[c].bytes / 1e6 };
        log(
          `  nix copy --to file://…?compression=${c}: ${(pushMs / 1000).toFixed(1)} s, ${(nixCaches[c].bytes / 1e6).toFixed(1)} MB`,
        );
      }
    } catch (e) {
      nix = undefined;
      report.notes.push(
        `Nix could not be set up: ${String(e instanceof Error ? e.message : e)
          .split('\n')
          .slice(0, 4)
          .join(' / ')}`,
      );
      log(report.notes.at(-1));
    }
  } else report.notes.push('--no-nix: Nix was not run');

  // --- ferry: sign and push the closure ---------------------------------------------------------------------
  const ferryCache = join(work, 'ferry-cache');
  let ferryKey = '';
  if (ferryOk) {
    const has = ferry.hasCacheCommands();
    if (!has.ok) {
      ferryOk = false;
      report.notes.push(
        `ferry's binary cache commands are not available in ${opt.ferry} (cache --help: ${has.output.split('\n')[0]}); the ferry half awaits them`,
      );
      log(report.notes.at(-1));
    } else {
      ferryKey = ferry.generateKey(builtRoot, 'cb-bench');
      const pushMs = ferry.push(builtRoot, ferryCache, TOP);
      const bytes = dirBytes(join(ferryCache, 'pkg'));
      report.tools.ferry.cache = { pushMs, mb: bytes / 1e6 };
      log(`ferry cache push: ${(pushMs / 1000).toFixed(1)} s, ${(bytes / 1e6).toFixed(1)} MB`);
    }
  }

  // --- the cases, with their HTTP servers on loopback ------------------------------------------------------
  // Order: ferry file://, node alone (the floor), ferry HTTP (its own server), ferry HTTP (nginx), Nix file://
  // gzip/zstd/none, Nix HTTP.
  /** @type {Case[]} */
  const nixCases = [];
  const ferryMb = ferryOk ? report.tools.ferry.cache.mb : 0;
  if (ferryOk) {
    const port = await freePort();
    const s = ferry.serve(ferryCache, port, join(work, 'ferry-serve.log'));
    servers.push(s);
    await s.ready('/index.json');
    cases.push(ferryCase('ferry-file', 'ferry, file://', `file://${ferryCache}`, ferryMb));
    cases.push(floorCase(ferryMb));
    cases.push(ferryCase('ferry-http', 'ferry, HTTP (ferry cache serve)', s.url, ferryMb));
  }
  if (nix !== undefined) {
    for (const c of ['gzip', 'zstd', 'none'])
      nixCases.push(
        nixCase(
          `nix-${c}`,
          `nix copy, file://, ${c}`,
          `file://${nixCaches[c].dir}`,
          nixCaches[c].bytes / 1e6,
        ),
      );
    // The same durability as ferry's install (store paths on disk before the command ends): not Nix's fastest.
    nixCases.push(
      nixCase(
        'nix-none-synced',
        'nix copy, file://, none + sync -f',
        `file://${nixCaches.none.dir}`,
        nixCaches.none.bytes / 1e6,
        { durable: true },
      ),
    );
  }
  if (opt.nginx && (ferryOk || nix !== undefined)) {
    try {
      // One nginx, one server block per cache: ferry's, and Nix's gzip one.
      const ferryPort = ferryOk ? await freePort() : 0;
      const nixPort = nix !== undefined ? await freePort() : 0;
      const roots = [];
      if (ferryOk) roots.push({ root: ferryCache, port: ferryPort });
      if (nix !== undefined) roots.push({ root: nixCaches.gzip.dir, port: nixPort });
      const installed = ensureNginx(log);
      if (installed !== undefined) report.notes.push(installed);
      const ng = startNginx(join(work, 'nginx'), roots);
      servers.push(ng.server);
      await ng.server.ready('/');
      report.tools.nginx = { version: ng.version };
      if (ferryOk)
        cases.push(ferryCase('ferry-nginx', 'ferry, HTTP (nginx)', `http://127.0.0.1:${ferryPort}`, ferryMb));
      if (nix !== undefined)
        nixCases.push(
          nixCase(
            'nix-nginx',
            'nix copy, HTTP (nginx), gzip',
            `http://127.0.0.1:${nixPort}`,
            nixCaches.gzip.bytes / 1e6,
          ),
        );
    } catch (e) {
      report.notes.push(`nginx not used: ${String(e instanceof Error ? e.message : e)}`);
      log(report.notes.at(-1));
    }
  } else if (!opt.nginx) report.notes.push('--no-nginx: no nginx cases');
  cases.push(...nixCases);

  // --- the timed runs ------------------------------------------------------------------------------------------
  // One untimed run of every case first (warms the page cache and the binaries), then `runs` rounds, each
  // running every case once, so that a slow spell of the shared machine hits all of them alike.
  // Destinations are kept until every round is done, so no run pays for another's deleted files (INODE_AGE_S).
  const keepAll = hasRoomFor(join(work, 'dst'), cases.length * (opt.runs + 1) * opt.mb * 1.2e6);
  if (!keepAll)
    report.notes.push('not enough free space to keep every run: each destination was deleted after its run');
  report.keptDestinations = keepAll;
  /** @type {string[]} */
  const done = [];
  await letFreedInodesAge(log); // the fixtures deleted files too (build directories, temporary NARs)
  for (let round = 0; round <= opt.runs; round++) {
    log(round === 0 ? 'warm-up round…' : `round ${round}/${opt.runs}…`);
    for (const c of cases) {
      const dst = join(work, 'dst', `${c.id}-${round}`);
      // Write back what earlier runs left dirty (200 MB each) now, untimed, so no run pays for another's.
      spawnSync('sync');
      const r = c.run(dst);
      if (r.problems.length > 0) throw new Error(`${c.label}: ${r.problems.slice(0, 5).join('; ')}`);
      if (round > 0) c.times.push(r.ms);
      Object.assign(c.installed, { packages: r.packages, files: r.files, bytes: r.bytes });
      if (round > 0) c.user.push(r.userS ?? NaN);
      if (round > 0) c.sys.push(r.sysS ?? NaN);
      if (round > 0) c.rss.push(r.maxRssMb ?? NaN);
      // Keep the last file:// destination of each tool for the no-op runs; drop the rest (200 MB each).
      if (!(round === opt.runs && (c.id === 'ferry-file' || c.id === 'nix-gzip'))) {
        if (keepAll) done.push(dst);
        else rmSync(dst, { recursive: true, force: true });
      }
    }
  }
  for (const d of done) rmSync(d, { recursive: true, force: true });

  // --- no-op: everything present ---------------------------------------------------------------------------------
  // Interleaved with `node -e 0` (ferry's floor: what any node program pays to start), in ferry's environment
  // and, when set, with NODE_EXTRA_CA_CERTS, so all of them see the same machine load.
  const ferryRoot = join(work, 'dst', `ferry-file-${opt.runs}`);
  const nixDst = join(work, 'dst', `nix-gzip-${opt.runs}`);
  const gens = () => readdirSync(join(ferryRoot, 'profiles/default.d')).length;
  const before = ferryOk ? gens() : 0;
  /** @type {Record<string, number[]>} */
  const t = { ferry: [], nix: [], node: [], nodeCa: [] };
  for (let i = 0; i < opt.noopRuns; i++) {
    if (ferryOk) {
      const r = ferry.install(ferryRoot, `file://${ferryCache}`, TOP);
      if (r.status !== 0) throw new Error(`ferry no-op install failed: ${tail(r.stderr)}`);
      t.ferry.push(r.ms);
    }
    if (nix !== undefined && nixBuilt !== undefined) {
      const r = nix.copy(`file://${nixCaches.gzip.dir}`, nixDst, nixBuilt.top);
      if (r.status !== 0) throw new Error(`nix no-op copy failed: ${tail(r.stderr)}`);
      t.nix.push(r.ms);
    }
    t.node.push(nodeStart(ferry.env));
    if (process.env.NODE_EXTRA_CA_CERTS !== undefined) t.nodeCa.push(nodeStart(process.env));
  }
  if (ferryOk) {
    const v = ferry.verify(ferryRoot, digests, TOP);
    if (v.problems.length > 0) throw new Error(`after the no-op installs: ${v.problems.join('; ')}`);
    noops.push({
      id: 'ferry-noop',
      label: 'ferry install, all present',
      times: t.ferry,
      newGenerations: gens() - before,
    });
  }
  if (t.nix.length > 0) noops.push({ id: 'nix-noop', label: 'nix copy, all present', times: t.nix });
  report.nodeStartMs = {
    clean: statsMs(t.node),
    withExtraCaCerts:
      t.nodeCa.length === 0 ? undefined : { file: process.env.NODE_EXTRA_CA_CERTS, ...statsMs(t.nodeCa) },
  };
  const ca = report.nodeStartMs.withExtraCaCerts;
  if (ca !== undefined)
    report.notes.push(
      `ferry's processes run without NODE_EXTRA_CA_CERTS (set here to ${ca.file}): with it, every node start parses that bundle, ${(ca.medianMs - report.nodeStartMs.clean.medianMs).toFixed(0)} ms more (median); no case here makes a TLS connection.`,
    );

  /** @returns {Case} */
  function ferryCase(
    /** @type {string} */ id,
    /** @type {string} */ label,
    /** @type {string} */ url,
    /** @type {number} */ mb,
  ) {
    return timedCase(
      { id, tool: 'ferry', label, url, cacheMb: mb },
      (dst) => {
        ferry.trust(dst, ferryKey); // untimed, like Nix's trusted-public-keys in nix.conf
        return ferry.install(dst, url, TOP);
      },
      (dst) => ferry.verify(dst, digests, TOP),
    );
  }

  /**
   * Not an install: Node running ferry's extractor alone over the same archives (see extractOnly), the floor
   * under any `ferry install` from this cache on this runtime. @returns {Case}
   */
  function floorCase(/** @type {number} */ mb) {
    return timedCase(
      {
        id: 'node-floor',
        tool: 'node',
        label: "node alone: ferry's extractor",
        url: `file://${ferryCache}`,
        cacheMb: mb,
      },
      (dst) => ferry.extractOnly(ferryCache, dst),
      (dst) => ferry.verifyTrees(dst, digests),
    );
  }

  /** @returns {Case} */
  function nixCase(
    /** @type {string} */ id,
    /** @type {string} */ label,
    /** @type {string} */ url,
    /** @type {number} */ mb,
    /** @type {{ durable?: boolean }} */ opts = {},
  ) {
    const n = /** @type {NixPeer} */ (nix);
    const top = /** @type {{ top: string }} */ (nixBuilt).top;
    return timedCase(
      { id, tool: 'nix', label, url, cacheMb: mb },
      (dst) => n.copy(url, dst, top, opts),
      (dst) => n.verify(dst, top, digests, TOP),
    );
  }
}

/**
 * A case of the timed rounds: `go(dst)` is the timed command; `check(dst)` verifies what it left (untimed; not
 * run when the command failed).
 * @param {{ id: string, tool: string, label: string, url: string, cacheMb: number }} what
 * @param {(dst: string) => import('./cache/measure.mjs').Timed} go
 * @param {(dst: string) => { problems: string[], packages: number, files: number, bytes: number }} check
 * @returns {Case}
 */
function timedCase(what, go, check) {
  return {
    ...what,
    times: [],
    user: [],
    sys: [],
    rss: [],
    installed: {},
    run(dst) {
      const t = go(dst);
      if (t.status !== 0)
        return { ...t, problems: [`exit ${t.status}: ${tail(t.stderr)}`], packages: 0, files: 0, bytes: 0 };
      return { ...t, ...check(dst) };
    },
  };
}

/** Puts the measured cases and no-op runs into the report (also after an abort: what was measured). */
function summarize() {
  for (const c of cases) {
    if (c.times.length === 0) continue;
    const s = stats(c.times);
    report.cases.push({
      id: c.id,
      tool: c.tool,
      label: c.label,
      url: c.url.replace(work, '$WORK'),
      ...c.installed,
      mb: c.installed.bytes / 1e6,
      cacheMb: c.cacheMb,
      timesMs: c.times,
      minMs: s.min,
      medianMs: s.median,
      mbPerS: c.installed.bytes / 1e6 / (s.median / 1000),
      userS: stats(c.user).median,
      sysS: stats(c.sys).median,
      userSAll: c.user,
      sysSAll: c.sys,
      maxRssMb: stats(c.rss).median,
    });
  }
  report.noop = noops.map(({ times, ...n }) => ({ ...n, ...statsMs(times), timesMs: times }));
}

/** The last lines of a command's stderr, for an error message. @param {string} text */
function tail(text, lines = 8) {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * Nix's built trees against ferry's, by `<name>-<version>` (nix-support/ left out: Nix's reference list).
 * @param {string[]} paths @param {Map<string, string>} ferryDigests
 */
function compareWithFerry(paths, ferryDigests) {
  const digests = new Map();
  let identical = 0;
  for (const p of paths) {
    const key = pkgKey(p.split('/').at(-1) ?? '');
    const d = treeDigest(p, ['nix-support']).digest;
    digests.set(key, d);
    if (ferryDigests.get(key) === d) identical++;
  }
  return { digests, identical, total: paths.length };
}

/** Total size of the regular files under `dir` (the cache's payload). @param {string} dir */
function dirBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

/** @param {number[]} xs */
function statsMs(xs) {
  const s = stats(xs);
  return { minMs: s.min, medianMs: s.median, maxMs: s.max, n: s.n };
}

// --- output ------------------------------------------------------------------------------------------------

async function output() {
  const table = render(report);
  process.stdout.write(`${table}\n`);
  report.table = table;
  if (args['no-write'] !== undefined) return;
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  // A smaller closure, a run without Nix, or another ferry build does not replace the day's full figures.
  const partial = failed || ['packages', 'mb', 'no-nix', 'ferry'].some((k) => args[k] !== undefined);
  const file = join(dir, `cache-${report.date.slice(0, 10)}${partial ? '-partial' : ''}.json`);
  await writeReport(file, report);
  log(`wrote ${file}`);
}

/** The table: one row per case, then the no-op rows and the verdicts. @param {any} r */
function render(r) {
  const f = (/** @type {number | undefined} */ x, d = 2) =>
    x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d);
  const byId = (/** @type {string} */ id) => r.cases.find((/** @type {any} */ c) => c.id === id);
  const nixGzip = byId('nix-gzip');
  const nixFile = r.cases.filter(
    (/** @type {any} */ c) => c.tool === 'nix' && c.url.startsWith('file:') && c.id !== 'nix-none-synced',
  );
  // Nix's fastest file:// setting, by minimum (the figure least disturbed by other jobs on a shared machine).
  const nixBest =
    nixFile.length === 0
      ? undefined
      : nixFile.reduce((/** @type {any} */ a, /** @type {any} */ b) => (b.minMs < a.minMs ? b : a));
  const ratio = (/** @type {any} */ c, /** @type {any} */ peer, key = 'minMs') =>
    c.tool === 'nix' || peer === undefined ? '' : `${(c[key] / peer[key]).toFixed(2)}x`;
  const rows = [
    [
      'case',
      'pkgs',
      'MB',
      'files',
      'cache MB',
      'min s',
      'median s',
      'MB/s',
      'user s',
      'sys s',
      'RSS MB',
      '÷nix gzip',
      `÷nix best`,
    ],
  ];
  for (const c of r.cases)
    rows.push([
      c.label,
      String(c.packages),
      f(c.mb, 1),
      String(c.files),
      f(c.cacheMb, 1),
      f(c.minMs / 1000),
      f(c.medianMs / 1000),
      f(c.mbPerS, 0),
      f(c.userS),
      f(c.sysS),
      f(c.maxRssMb, 0),
      ratio(c, nixGzip),
      ratio(c, nixBest),
    ]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (/** @type {string[]} */ row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  out.push('');
  for (const n of r.noop ?? [])
    out.push(
      `${n.label.padEnd(widths[0])}  min ${f(n.minMs, 1)} ms, median ${f(n.medianMs, 1)} ms (${n.n} runs)`,
    );
  const ns = r.nodeStartMs;
  if (ns !== undefined)
    out.push(
      `${'node -e 0 (start-up floor)'.padEnd(widths[0])}  min ${f(ns.clean.minMs, 1)} ms, median ${f(ns.clean.medianMs, 1)} ms` +
        (ns.withExtraCaCerts
          ? ` (with NODE_EXTRA_CA_CERTS: median ${f(ns.withExtraCaCerts.medianMs, 1)} ms)`
          : ''),
    );
  out.push('');
  const cl = r.closure;
  if (cl.files !== undefined)
    out.push(
      `closure: ${cl.packages} packages (${cl.edges} edges), ${f(cl.mb, 1)} MB in ${cl.files} files; ferry and Nix trees identical: ${cl.identicalTrees === undefined ? '-' : `${cl.identicalTrees}/${cl.packages}`}.`,
    );
  out.push(
    `times: wall clock of the whole command (process start to exit) into a fresh, empty root/store, min and median of ${r.options.runs} runs after one warm-up; every install verified (trees re-hashed against the built ones, the top program run; Nix: also nix-store --verify-path). MB/s = MB / median. user s, sys s: CPU time of the command (median). ratios: ferry's (or node's) min / the Nix row's min (medians in the verdicts); "nix best" is Nix's fastest file:// setting (${nixBest?.label ?? '-'}). Load average at start ${r.machine.loadavg}, at end ${r.loadavgAtEnd} (${r.machine.cpus} CPUs).`,
  );
  if (r.tools.nix)
    out.push(
      `${r.tools.nix.version}; cache push: ${Object.entries(r.tools.nix.caches)
        .map(([k, v]) => `${k} ${f(/** @type {any} */ (v).pushMs / 1000, 1)} s`)
        .join(', ')}.`,
    );
  if (r.tools.ferry?.cache)
    out.push(
      `ferry cache push (pack + sign ${cl.packages} paths): ${f(r.tools.ferry.cache.pushMs / 1000, 1)} s.`,
    );
  for (const n of r.notes) out.push(n);

  // Targets (issue): ferry at least as fast as Nix on the same closure; a no-op install under 100 ms.
  const verdicts = [];
  /** ferry's case against a Nix case: ratio of minima and of medians, and whether both are at most 1. */
  const versus = (/** @type {any} */ c, /** @type {any} */ peer, /** @type {string} */ what) => {
    const lo = c.minMs / peer.minMs;
    const mid = c.medianMs / peer.medianMs;
    const v = lo <= 1 && mid <= 1 ? 'meets' : lo <= 1 ? 'meets on the minimum only' : 'MISSES';
    return `${c.label} vs ${peer.label}${what}: ${lo.toFixed(2)}x (min), ${mid.toFixed(2)}x (median) → ${v} the target (≤ 1.00x)`;
  };
  const ff = byId('ferry-file');
  if (ff !== undefined && nixGzip !== undefined) verdicts.push(versus(ff, nixGzip, ' (same algorithm)'));
  if (ff !== undefined && nixBest !== undefined && nixBest !== nixGzip)
    verdicts.push(versus(ff, nixBest, " (Nix's fastest)"));
  const synced = byId('nix-none-synced');
  if (ff !== undefined && synced !== undefined) verdicts.push(versus(ff, synced, ' (the same durability)'));
  const floor = byId('node-floor');
  if (floor !== undefined && nixBest !== undefined)
    verdicts.push(
      `${floor.label} (no checks, records or profile) vs ${nixBest.label}: ${(floor.minMs / nixBest.minMs).toFixed(2)}x (min), ${(floor.medianMs / nixBest.medianMs).toFixed(2)}x (median): the floor under ferry on this runtime, not a target`,
    );
  const fh = byId('ferry-nginx');
  const nh = byId('nix-nginx');
  if (fh !== undefined && nh !== undefined) verdicts.push(versus(fh, nh, ' (same server)'));
  const noop = (r.noop ?? []).find((/** @type {any} */ n) => n.id === 'ferry-noop');
  if (noop !== undefined)
    verdicts.push(
      `ferry no-op install of ${cl.packages} packages: min ${f(noop.minMs, 1)} ms, median ${f(noop.medianMs, 1)} ms → ${noop.medianMs < 100 ? 'meets' : 'MISSES'} the target (median < 100 ms)`,
    );
  if (verdicts.length > 0) out.push('', ...verdicts);
  return out.join('\n');
}

function machine() {
  const cpu = spawnSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])
    .stdout.toString()
    .trim();
  return {
    node: process.version,
    cpu,
    cpus: Number(spawnSync('nproc').stdout.toString().trim()),
    loadavg: loadavg(),
  };
}

/** The 1, 5 and 15 minute load averages (the machine is shared: other jobs slow every tool alike). */
function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** --key value and --flag. @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string | true>} */
  const out = {};
  const flags = ['no-nix', 'no-nginx', 'keep', 'no-write'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (flags.includes(key)) out[key] = true;
    else if (['packages', 'mb', 'runs', 'noop-runs', 'ferry', 'render'].includes(key) && i + 1 < argv.length)
      out[key] = argv[++i];
    else throw new Error(`unknown option ${a} (see the comment at the top of bench/cache.mjs)`);
  }
  return out;
}
