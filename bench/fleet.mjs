#!/usr/bin/env node
// @ts-check
/**
 * The fleet benchmark: `ferry deploy` against `rsync -a` over the same OpenSSH, to the same three sshd hosts
 * (test/helpers/testbed.ts: network namespaces joined by veth pairs), with the binary cache benchmark's
 * synthetic closure (50 packages, 200 MB by default). Measured per tool: a first deploy to 3 hosts, an
 * incremental deploy after ~5% of the closure's bytes changed, and a no-op redeploy: wall time, bytes on the
 * wire (the veths' counters), the tool's own byte count, CPU; and ferry's switch gap. See bench/README.md,
 * "Fleet benchmark".
 *
 *   npm run build && node bench/fleet.mjs [--packages N] [--mb N] [--runs N] [--change PERCENT] [--no-rsync-z]
 *                                      [--keep] [--no-write] [--ferry PATH/TO/main.js]
 *   node bench/fleet.mjs --render bench/results/fleet-DATE.json     (re-print a saved result's table)
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TOP, planClosure, writeClosure } from './cache/closure.mjs';
import { FerryCli, snapshotFerry } from './cache/ferry.mjs';
import { ferryEnv, hasRoomFor, letFreedInodesAge, stats } from './cache/measure.mjs';
import { machineCpuS, run, treeSize, vethFor, wireBytes } from './fleet/measure.mjs';
import { cpuProfileTop, sshTimeline, sshTracer } from './fleet/trace.mjs';
import { writeReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const opt = {
  packages: Math.max(3, Number(args.packages ?? 50)),
  mb: Math.max(1, Number(args.mb ?? 200)),
  runs: Math.max(1, Number(args.runs ?? 3)),
  change: Math.min(50, Math.max(0.1, Number(args.change ?? 5))),
  rsyncZ: args['no-rsync-z'] === undefined,
  keep: args.keep !== undefined,
  ferry: resolvePath(String(args.ferry ?? join(here, '../dist/ferry.cjs'))),
};
const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);
const HOSTS = ['h1', 'h2', 'h3'];
const PROFILE = 'app';
const CASES = /** @type {const} */ (['first', 'incremental', 'noop']);

if (args.render !== undefined) {
  process.stdout.write(`${render(JSON.parse(readFileSync(String(args.render), 'utf8')))}\n`);
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'ferry-fleet-bench-'));
/** @type {Record<string, any>} */
const report = {
  date: new Date().toISOString(),
  machine: machine(),
  loadavgAtEnd: '',
  options: { ...opt, ferry: undefined },
  closure: {},
  tools: {},
  /** every timed step: { round, tool, case, ms, wire, sent, ... } */
  steps: [],
  warmup: [],
  results: [],
  switchNs: [],
  diagnostics: {},
  notes: [
    'Warm: the store paths, the tools and the host binaries are in the page cache (one untimed warm-up round first). Dropping caches is not done on a shared machine.',
  ],
};
/** @type {{ stop(): Promise<void> } | undefined} */
let testbed;
let failed = false;

const onSignal = () => {
  // The testbed's own handler takes its namespaces and sshds down; the work directory is ours.
  if (!opt.keep) rmSync(work, { recursive: true, force: true });
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  await main();
} catch (e) {
  failed = true;
  report.notes.push(
    `aborted: ${String(e instanceof Error ? e.message : e)
      .split('\n')
      .slice(0, 6)
      .join(' / ')}`,
  );
  log(`error: ${e instanceof Error ? e.stack : e}`);
} finally {
  await testbed?.stop().catch((e) => log(`testbed stop: ${e}`));
  summarize();
  report.loadavgAtEnd = loadavg();
  if (opt.keep) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
await output();
process.exitCode = failed ? 1 : 0;

// ----------------------------------------------------------------------------------------------------------

async function main() {
  // --- two versions of the closure: v1, and v2 with ~change% of the bytes different -----------------------
  const v1 = planClosure(opt.packages, opt.mb);
  const { pkgs: v2, changed } = changeClosure(v1, opt.change / 100);
  writeClosure(join(work, 'v1'), v1);
  writeClosure(join(work, 'v2'), v2);
  const snap = snapshotFerry(opt.ferry, join(work, 'ferry-snapshot'));
  report.tools.ferry = { revision: snap.revision };
  const ferry1 = new FerryCli(snap.main, join(work, 'v1', 'ports'));
  const ferry2 = new FerryCli(snap.main, join(work, 'v2', 'ports'));
  const root = join(work, 'controller');
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...ferryEnv(), NO_COLOR: '1' };

  // --- build both into the controller's root (untimed fixtures) ------------------------------------------
  log(
    `closure: ${v1.length} packages, ~${opt.mb} MB; v2 changes ${changed.join(', ')} (and ${TOP}); in ${work}`,
  );
  log('ferry build v1 (untimed fixture)…');
  const b1 = ferry1.build(root, TOP);
  if (b1.note !== undefined) report.notes.push(b1.note);
  const ids1 = storeIds(root);
  log(`  ${ids1.length} store paths in ${(b1.ms / 1000).toFixed(1)} s`);
  log('ferry build v2 (untimed fixture)…');
  const b2 = ferry2.build(root, TOP);
  if (b2.note !== undefined && b2.note !== b1.note) report.notes.push(b2.note);
  const all = storeIds(root);
  const fresh = all.filter((id) => !ids1.includes(id)).sort();
  const key = (/** @type {string} */ id) => id.replace(/^[0-9a-z]{32}-/, '');
  const freshKeys = new Set(fresh.map(key));
  const ids2 = [...ids1.filter((id) => !freshKeys.has(key(id))), ...fresh].sort();
  log(`  ${fresh.length} new store paths in ${(b2.ms / 1000).toFixed(1)} s`);
  if (fresh.length !== changed.length + 1)
    report.notes.push(
      `v2 made ${fresh.length} new store paths, not ${changed.length + 1} (the changed packages and ${TOP}): ${fresh.map(key).join(', ')}`,
    );
  /** @type {Map<string, { files: number, bytes: number }>} */
  const sizes = new Map(all.map((id) => [id, treeSize(join(root, 'store', id))]));
  const sum = (/** @type {string[]} */ ids, /** @type {'files' | 'bytes'} */ k) =>
    ids.reduce((n, id) => n + (sizes.get(id)?.[k] ?? 0), 0);
  Object.assign(report.closure, {
    packages: ids1.length,
    files: sum(ids1, 'files'),
    bytes: sum(ids1, 'bytes'),
    mb: sum(ids1, 'bytes') / 1e6,
    changedPackages: [...changed, TOP],
    changedPaths: fresh.length,
    changedBytes: sum(fresh, 'bytes'),
    changedPercent: (100 * sum(fresh, 'bytes')) / sum(ids2, 'bytes'),
    v2Bytes: sum(ids2, 'bytes'),
  });
  Object.assign(report.tools.ferry, {
    buildMs: b1.ms,
    rebuildMs: b2.ms,
    sandbox: ferry1.buildOpts.length === 0 ? 'bwrap' : 'off',
  });
  const cl = report.closure;
  log(
    `  v1: ${cl.packages} paths, ${cl.files} files, ${cl.mb.toFixed(1)} MB; v2 changes ${fresh.length} paths, ${(cl.changedBytes / 1e6).toFixed(1)} MB (${cl.changedPercent.toFixed(1)}%)`,
  );

  // --- the hosts -----------------------------------------------------------------------------------------
  const tbUrl = pathToFileURL(join(here, '../dist-test/helpers/testbed.js')).href;
  const { startTestbed, testbedProblem } = await import(tbUrl);
  const problem = testbedProblem();
  if (problem !== undefined) throw new Error(`testbed: ${problem}`);
  const tb = await startTestbed(HOSTS.map((name) => ({ name })));
  testbed = tb;
  /** @type {{ name: string, ip: string, port: number, fsDir: string }[]} */
  const hosts = tb.hosts;
  const veths = hosts.map((h) => vethFor(h.ip));
  log(`testbed: ${hosts.map((h, i) => `${h.name} ${h.ip} (${veths[i]})`).join(', ')}`);
  const sshCmd = `ssh -F ${tb.sshConfig} -o UserKnownHostsFile=${tb.knownHosts} -o StrictHostKeyChecking=yes`;
  report.tools.rsync = {
    version: firstLine(spawnSync('rsync', ['--version']).stdout),
    command:
      'rsync -a --stats -e "ssh -F SSHCONFIG -o UserKnownHostsFile=KNOWNHOSTS -o StrictHostKeyChecking=yes" STORE/<id>… root@IP:MOUNT/rsync/',
  };
  report.tools.ssh = {
    version: firstLine(spawnSync('ssh', ['-V']).stderr),
    kex: 'curve25519-sha256 (testbed ssh_config)',
  };

  // --- the projects: v1 and v2, same hosts --------------------------------------------------------------
  /** @param {string} v */
  const project = (v) => {
    const dir = join(work, `project-${v}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(tb.knownHosts, join(dir, 'known_hosts'));
    const toml = [
      `ports = [${JSON.stringify(join(work, v, 'ports'))}]`,
      '',
      '[fleet]',
      `ssh-config = ${JSON.stringify(tb.sshConfig)}`,
      'known-hosts = "known_hosts"',
      '',
      `[profiles.${PROFILE}]`,
      `packages = ["${TOP}"]`,
      '',
      ...hosts.flatMap((h) => [
        `[hosts.${h.name}]`,
        `ssh = "root@${h.ip}:${h.port}"`,
        `root = ${JSON.stringify(join(tb.mountDir, 'ferry'))}`,
        `profiles = ["${PROFILE}"]`,
        '',
      ]),
    ].join('\n');
    writeFileSync(join(dir, 'ferry.toml'), toml);
    const file = join(dir, 'ferry.toml');
    const r = spawnSync(process.execPath, [snap.main, '--root', root, 'lock', '--manifest', file], { env });
    if (r.status !== 0) throw new Error(`ferry lock (${v}) failed:\n${r.stderr}\n${r.stdout}`);
    return file;
  };
  const manifests = { v1: project('v1'), v2: project('v2') };
  const closures = { v1: ids1, v2: ids2 };

  // --- the tools ---------------------------------------------------------------------------------------
  /**
   * @typedef {{ ms: number, hostMs: number[], sent?: number, sentByHost?: number[], switchNs?: number[],
   *   userS?: number, sysS?: number, results?: string[], stderr?: string }} Deployed
   * @typedef {{ id: string, label: string, dir: string,
   *   deploy(v: 'v1' | 'v2', c: string): Promise<Deployed>, verify(v: 'v1' | 'v2'): Promise<string[]> }} Tool
   */
  /** @type {Tool} */
  const ferryTool = {
    id: 'ferry',
    label: 'ferry deploy',
    dir: 'ferry',
    async deploy(v, c) {
      const r = await run(
        process.execPath,
        [snap.main, '--root', root, 'deploy', '--json', '--manifest', manifests[v]],
        { env },
      );
      /** @type {any} */
      let out;
      try {
        out = JSON.parse(r.stdout);
      } catch {
        throw new Error(
          `ferry deploy (${c}) printed no JSON (exit ${r.status}):\n${tail(r.stderr)}\n${tail(r.stdout)}`,
        );
      }
      if (r.status !== 0)
        throw new Error(
          `ferry deploy (${c}) failed (exit ${r.status}): ${JSON.stringify(out).slice(0, 2000)}\n${tail(r.stderr)}`,
        );
      /** @type {any[]} */
      const hs = out.hosts;
      const want = c === 'noop' ? 'unchanged' : 'switched';
      const bad = hs.filter((h) => h.result !== want);
      if (bad.length > 0 || hs.length !== hosts.length)
        throw new Error(
          `ferry deploy (${c}): expected ${want} on every host, got ${hs.map((h) => `${h.host} ${h.result}`).join(', ')}`,
        );
      return {
        ms: r.ms,
        hostMs: hs.map((h) => h.ms),
        sent: hs.reduce((n, h) => n + h.bytesSent, 0),
        sentByHost: hs.map((h) => h.bytesSent),
        pathsSent: hs.map((h) => h.pathsSent),
        switchNs: hs.flatMap((h) => h.switchNs ?? []),
        userS: r.userS,
        sysS: r.sysS,
        results: hs.map((h) => h.result),
        stderr: tail(r.stderr, 3),
      };
    },
    async verify(v) {
      const problems = [];
      for (const h of hosts) {
        const r = join(h.fsDir, 'ferry');
        problems.push(...checkTrees(h.name, join(r, 'store'), closures[v]));
        const link = join(r, 'profiles', PROFILE);
        if (!existsSync(link)) {
          problems.push(`${h.name}: no profile ${PROFILE}`);
          continue;
        }
        const gen = JSON.parse(
          readFileSync(join(r, 'profiles', readlinkSync(link), '.generation.json'), 'utf8'),
        );
        const ids = gen.packages.map((/** @type {any} */ p) => p.storeId).sort();
        if (ids.join() !== closures[v].join())
          problems.push(`${h.name}: the generation's closure is not the ${v} closure (${ids.length} paths)`);
        const said = await tb.exec(h.name, [join(tb.mountDir, 'ferry', 'profiles', PROFILE, 'bin', TOP)]);
        if (!said.includes(`${TOP} 1.0 ok`))
          problems.push(`${h.name}: ${TOP} printed ${JSON.stringify(said)}`);
      }
      return problems;
    },
  };
  /** @param {boolean} z @returns {Tool} */
  const rsyncTool = (z) => ({
    id: z ? 'rsync-z' : 'rsync',
    label: z ? 'rsync -az' : 'rsync -a',
    dir: z ? 'rsync-z' : 'rsync',
    async deploy(v, c) {
      const srcs = closures[v].map((id) => join(root, 'store', id));
      const t0 = performance.now();
      const rs = await Promise.all(
        hosts.map((h) =>
          run('rsync', [
            z ? '-az' : '-a',
            '--stats',
            '-e',
            sshCmd,
            ...srcs,
            `root@${h.ip}:${join(tb.mountDir, this.dir)}/`,
          ]),
        ),
      );
      const ms = performance.now() - t0;
      const bad = rs.find((r) => r.status !== 0);
      if (bad !== undefined) throw new Error(`rsync (${c}) failed (exit ${bad.status}): ${tail(bad.stderr)}`);
      // rsync's own count: "Total bytes sent: N" of the sender (the controller), per host.
      const sentByHost = rs.map((r) =>
        Number((/Total bytes sent: ([\d,]+)/.exec(r.stdout)?.[1] ?? 'NaN').replace(/,/g, '')),
      );
      return {
        ms,
        hostMs: rs.map((r) => r.ms),
        sent: sentByHost.reduce((a, b) => a + b, 0),
        sentByHost,
        userS: rs.reduce((n, r) => n + (r.userS ?? NaN), 0),
        sysS: rs.reduce((n, r) => n + (r.sysS ?? NaN), 0),
      };
    },
    async verify(v) {
      return hosts.flatMap((h) => checkTrees(h.name, join(h.fsDir, this.dir), closures[v]));
    },
  });
  const tools = [ferryTool, rsyncTool(false), ...(opt.rsyncZ ? [rsyncTool(true)] : [])];

  /** Each expected store path is there with the controller's files and bytes. @param {string} host @param {string} dir @param {string[]} ids */
  function checkTrees(host, dir, ids) {
    const problems = [];
    for (const id of ids) {
      const p = join(dir, id);
      if (!existsSync(p)) {
        problems.push(`${host}: ${id} is missing`);
        continue;
      }
      const got = treeSize(p);
      const want = sizes.get(id);
      if (got.files !== want?.files || got.bytes !== want.bytes)
        problems.push(
          `${host}: ${id} has ${got.files} files, ${got.bytes} bytes; expected ${want?.files}, ${want?.bytes}`,
        );
    }
    return problems;
  }

  // --- the rounds ----------------------------------------------------------------------------------------
  // Round 0 is an untimed warm-up. Every round starts each tool from empty hosts, then: first deploy (v1),
  // incremental (v2), no-op (v2 again). The tools alternate which goes first, so a slow spell of the shared
  // machine does not always hit the same one.
  // A round's trees are moved aside, not deleted, until the end, so no step pays for deleted files (INODE_AGE_S).
  const keepAll = hosts.every((h) => hasRoomFor(h.fsDir, tools.length * (opt.runs + 1) * opt.mb * 1.3e6));
  if (!keepAll) report.notes.push('not enough free space to keep every round: host trees were deleted');
  report.keptRounds = keepAll;
  await letFreedInodesAge(log); // the fixtures deleted files too (build directories)
  for (let round = 0; round <= opt.runs; round++) {
    log(round === 0 ? 'warm-up round (untimed)…' : `round ${round}/${opt.runs}…`);
    const order = round % 2 === 1 ? tools : [...tools].reverse();
    for (const tool of order) {
      for (const h of hosts) {
        const dir = join(h.fsDir, tool.dir);
        if (keepAll && existsSync(dir)) renameSync(dir, join(h.fsDir, `.old-${tool.dir}-${round}`));
        else rmSync(dir, { recursive: true, force: true });
      }
      for (const c of CASES) {
        const v = c === 'first' ? 'v1' : 'v2';
        spawnSync('sync'); // write back earlier steps' data now, untimed
        const load = loadavg();
        const w0 = wireBytes(veths);
        const c0 = machineCpuS();
        const d = await tool.deploy(v, c);
        const cpu = machineCpuS() - c0;
        const wire = wireBytes(veths) - w0;
        const s0 = performance.now();
        spawnSync('sync');
        const syncAfterMs = performance.now() - s0;
        const problems = await tool.verify(v);
        if (problems.length > 0)
          throw new Error(`${tool.label}, ${c}, round ${round}: ${problems.slice(0, 5).join('; ')}`);
        const step = {
          round,
          tool: tool.id,
          case: c,
          ...d,
          wire,
          machineCpuS: cpu,
          syncAfterMs,
          loadavg: load,
        };
        (round === 0 ? report.warmup : report.steps).push(step);
        log(
          `  ${tool.label.padEnd(12)} ${c.padEnd(11)} ${(d.ms / 1000).toFixed(2)} s, wire ${(wire / 1e6).toFixed(2)} MB, sent ${((d.sent ?? NaN) / 1e6).toFixed(2)} MB, hosts ${d.hostMs.map((x) => (x / 1000).toFixed(2)).join('/')} s, sync after ${syncAfterMs.toFixed(0)} ms`,
        );
      }
    }
  }
  // The controller's store must not have grown: every deploy found its closure built.
  const after = storeIds(root).length;
  if (after !== all.length)
    report.notes.push(`the controller's store grew from ${all.length} to ${after} paths during the deploys`);

  // --- diagnostics: what the fixed costs are ------------------------------------------------------------
  log('diagnostics…');
  const d = report.diagnostics;
  const h1 = hosts[0];
  d.sshTrueMs = await times(5, () => run('ssh', [...sshCmd.split(' ').slice(1), `root@${h1.ip}`, 'true']));
  d.nodeStartMs = await times(5, () => run(process.execPath, ['-e', '0'], { env }));
  d.ferryStatusMs = await times(3, () =>
    run(process.execPath, [snap.main, '--root', root, 'status', '--json', '--manifest', manifests.v2], {
      env,
    }),
  );
  // gzip -1 of the whole v1 closure as one tar, one core: what ferry's compression costs per host.
  const g0 = performance.now();
  const tarGz = spawnSync('sh', [
    '-c',
    `cd "$0" && tar -cf - "$@" | gzip -1 | wc -c`,
    join(root, 'store'),
    ...ids1,
  ]);
  d.gzip1 = {
    ms: performance.now() - g0,
    bytesIn: cl.bytes,
    bytesOut: Number(tarGz.stdout.toString().trim()),
    note: 'tar | gzip -1 of the v1 closure, once, one core each (ferry compresses per host, in its node process, at level 1)',
  };
  // One more first and incremental deploy of ferry, untimed for the table, with the ssh tracer and node's CPU
  // profile: where its time goes.
  d.ferryTrace = {};
  for (const h of hosts)
    if (report.keptRounds === true) renameSync(join(h.fsDir, 'ferry'), join(h.fsDir, '.old-ferry-trace'));
    else rmSync(join(h.fsDir, 'ferry'), { recursive: true, force: true });
  for (const [c, v] of /** @type {const} */ ([
    ['first', 'v1'],
    ['incremental', 'v2'],
  ])) {
    spawnSync('sync');
    const dir = join(work, `trace-${c}`);
    const tracer = sshTracer(dir);
    const t0Ns = BigInt(Date.now()) * 1_000_000n;
    const r = await run(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        join(dir, 'prof'),
        snap.main,
        '--root',
        root,
        'deploy',
        '--json',
        '--manifest',
        manifests[v],
      ],
      { env: { ...env, PATH: `${tracer.bin}:${env.PATH ?? ''}` } },
    );
    if (r.status !== 0) throw new Error(`traced ferry deploy (${c}) failed: ${tail(r.stderr)}`);
    const out = JSON.parse(r.stdout);
    const byIp = sshTimeline(tracer.log, t0Ns);
    d.ferryTrace[c] = {
      ms: r.ms,
      userS: r.userS,
      sysS: r.sysS,
      hosts: hosts.map((h, i) => ({
        host: h.name,
        ms: out.hosts[i]?.ms,
        bytesSent: out.hosts[i]?.bytesSent,
        // ferry's own marks (ms since its start): probe answered, plan made, staged, switched
        phases: out.hosts[i]?.phases,
        ...(byIp[h.ip] ?? byIp[`root@${h.ip}`]),
      })),
      cpuProfile: cpuProfileTop(join(dir, 'prof')),
    };
    const t = d.ferryTrace[c];
    log(
      `  traced ferry ${c}: ${(r.ms / 1000).toFixed(2)} s; ${t.hosts
        .map(
          (/** @type {any} */ h) =>
            `${h.host}: ssh master at ${f0(h.masterAtMs)} ms, first command at ${f0(h.firstCommandAtMs)} ms, ${Object.entries(
              h.scripts ?? {},
            )
              .map(([k, x]) => `${k} ${f0(/** @type {any} */ (x).ms)} ms`)
              .join(', ')}, last end ${f0(h.lastEndMs)} ms (ferry's marks: ${Object.entries(h.phases ?? {})
              .map(([k, ms]) => `${k} ${f0(/** @type {number} */ (ms))}`)
              .join(', ')})`,
        )
        .join('; ')}`,
    );
  }
  log(
    `  ssh true ${d.sshTrueMs.medianMs.toFixed(0)} ms, node -e 0 ${d.nodeStartMs.medianMs.toFixed(0)} ms, ferry status ${d.ferryStatusMs.medianMs.toFixed(0)} ms, gzip -1 ${(d.gzip1.bytesOut / 1e6).toFixed(1)} MB`,
  );
}

/**
 * v2 of the closure: re-keys and re-seeds packages that nothing but the top depends on (so only they and the
 * top get new store paths), chosen so that their bytes come closest to `fraction` of the total.
 * @param {ReturnType<typeof planClosure>} pkgs @param {number} fraction
 */
function changeClosure(pkgs, fraction) {
  const size = (/** @type {typeof pkgs[number]} */ p) => p.blobs.reduce((a, b) => a + b, 0) + p.text;
  const total = pkgs.reduce((n, p) => n + size(p), 0);
  const target = total * fraction;
  const top = pkgs.at(-1);
  const leaves = pkgs.filter((p) => top?.deps.includes(p.name)).sort((a, b) => size(b) - size(a));
  /** @type {Set<string>} */
  const pick = new Set();
  let got = 0;
  for (const p of leaves)
    if (got + size(p) <= target) {
      pick.add(p.name);
      got += size(p);
    }
  // Short of the target: add the leaf that lands closest to it.
  const rest = leaves.filter((p) => !pick.has(p.name));
  if (rest.length > 0 && got < target * 0.9) {
    const best = rest.reduce((a, b) =>
      Math.abs(got + size(b) - target) < Math.abs(got + size(a) - target) ? b : a,
    );
    if (Math.abs(got + size(best) - target) < target - got) {
      pick.add(best.name);
      got += size(best);
    }
  }
  if (pick.size === 0 && leaves.length > 0) pick.add(leaves.at(-1)?.name ?? '');
  const out = pkgs.map((p) =>
    pick.has(p.name)
      ? {
          ...p,
          seed: (p.seed % 2147483640) + 7,
          key: (Number.parseInt(p.key.slice(0, 2), 16) ^ 0xff).toString(16).padStart(2, '0') + p.key.slice(2),
        }
      : p,
  );
  return { pkgs: out, changed: [...pick].sort() };
}

/** Every store path of a root (ferry's storePaths() keys them by name-version, which v1 and v2 share). @param {string} root */
function storeIds(root) {
  return readdirSync(join(root, 'store'))
    .filter((n) => !n.startsWith('.'))
    .sort();
}

/** @param {number} n @param {() => Promise<import('./fleet/measure.mjs').Ran>} fn */
async function times(n, fn) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const r = await fn();
    if (r.status !== 0) throw new Error(`diagnostic command failed (exit ${r.status}): ${tail(r.stderr)}`);
    xs.push(r.ms);
  }
  const s = stats(xs);
  return { minMs: s.min, medianMs: s.median, maxMs: s.max, timesMs: xs };
}

// --- summary -------------------------------------------------------------------------------------------

function summarize() {
  const tools = [...new Set(report.steps.map((/** @type {any} */ s) => s.tool))];
  for (const c of CASES)
    for (const t of tools) {
      const xs = report.steps.filter((/** @type {any} */ s) => s.tool === t && s.case === c);
      if (xs.length === 0) continue;
      const med = (/** @type {(s: any) => number} */ f) => stats(xs.map(f)).median;
      const time = stats(xs.map((/** @type {any} */ s) => s.ms));
      const wire = stats(xs.map((/** @type {any} */ s) => s.wire));
      report.results.push({
        case: c,
        tool: t,
        n: xs.length,
        minMs: time.min,
        medianMs: time.median,
        maxMs: time.max,
        wireMinBytes: wire.min,
        wireMedianBytes: wire.median,
        sentMedianBytes: med((s) => s.sent),
        hostMedianMs: med((s) => Math.max(...s.hostMs)),
        userS: med((s) => s.userS),
        sysS: med((s) => s.sysS),
        machineCpuS: med((s) => s.machineCpuS),
        syncAfterMs: med((s) => s.syncAfterMs),
      });
    }
  const sw = report.steps.flatMap((/** @type {any} */ s) => s.switchNs ?? []);
  report.switchNs = sw;
  if (sw.length > 0) {
    const s = stats(sw);
    report.switchGap = { n: s.n, minNs: s.min, medianNs: s.median, maxNs: s.max };
  }
}

/** @param {any} r */
function render(r) {
  const f = (/** @type {number | undefined} */ x, d = 2) =>
    x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d);
  const res = (/** @type {string} */ c, /** @type {string} */ t) =>
    r.results.find((/** @type {any} */ x) => x.case === c && x.tool === t);
  const label = (/** @type {string} */ t) =>
    ({ ferry: 'ferry deploy', rsync: 'rsync -a', 'rsync-z': 'rsync -az' })[t] ?? t;
  const caseLabel = (/** @type {string} */ c) =>
    ({
      first: 'first deploy, 3 hosts',
      incremental: `incremental, ${f(r.closure.changedPercent, 1)}% changed`,
      noop: 'no-op redeploy',
    })[c] ?? c;
  const mb = (/** @type {number} */ b) => (b < 1e6 ? f(b / 1e6, 3) : f(b / 1e6, 1));
  const rows = [
    [
      'case',
      'tool',
      'min s',
      'median s',
      'wire MB',
      'sent MB',
      'ctl CPU s',
      'all CPU s',
      'time ÷rsync (min / med)',
      'wire ÷rsync',
    ],
  ];
  for (const c of CASES)
    for (const t of ['ferry', 'rsync', 'rsync-z']) {
      const x = res(c, t);
      if (x === undefined) continue;
      const peer = res(c, 'rsync');
      const ratio =
        t === 'ferry' && peer !== undefined
          ? [
              `${f(x.minMs / peer.minMs)}x / ${f(x.medianMs / peer.medianMs)}x`,
              `${f(x.wireMedianBytes / peer.wireMedianBytes)}x`,
            ]
          : ['', ''];
      rows.push([
        caseLabel(c),
        label(t),
        f(x.minMs / 1000),
        f(x.medianMs / 1000),
        mb(x.wireMedianBytes),
        mb(x.sentMedianBytes),
        f(x.userS + x.sysS, 1),
        f(x.machineCpuS, 1),
        ...ratio,
      ]);
    }
  const out = [
    `| ${rows[0].join(' | ')} |`,
    `|${rows[0].map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.slice(1).map((row) => `| ${row.join(' | ')} |`),
    '',
  ];
  const cl = r.closure;
  if (cl.files !== undefined)
    out.push(
      `closure: ${cl.packages} store paths, ${f(cl.mb, 1)} MB in ${cl.files} files; the incremental step changes ${cl.changedPaths} paths (${(cl.changedPackages ?? []).join(', ')}), ${f(cl.changedBytes / 1e6, 1)} MB = ${f(cl.changedPercent, 1)}% of the new closure's bytes.`,
    );
  if (r.switchGap !== undefined)
    out.push(
      `switch gap (ferry's switchNs: date +%s%N before and after the mv -T that renames the new link over the profile link on the host, so it includes starting mv and date; the rename itself is atomic, the link never missing): min ${f(r.switchGap.minNs / 1000, 0)} µs, median ${f(r.switchGap.medianNs / 1000, 0)} µs, max ${f(r.switchGap.maxNs / 1000, 0)} µs over ${r.switchGap.n} switches.`,
    );
  const d = r.diagnostics ?? {};
  if (d.sshTrueMs !== undefined)
    out.push(
      `fixed costs (median): ssh login + \`true\` ${f(d.sshTrueMs.medianMs, 0)} ms; node -e 0 ${f(d.nodeStartMs.medianMs, 0)} ms; ferry status (resolve + connect + probe 3 hosts) ${f(d.ferryStatusMs.medianMs, 0)} ms; tar | gzip -1 of the closure on one core ${f(d.gzip1.ms / 1000, 1)} s (${f(d.gzip1.bytesIn / 1e6, 1)} → ${f(d.gzip1.bytesOut / 1e6, 1)} MB).`,
    );
  for (const [c, t] of Object.entries(d.ferryTrace ?? {})) {
    /** @type {any[]} */
    const hs = t.hosts ?? [];
    const med = (/** @type {(h: any) => number} */ fn) => stats(hs.map(fn).filter(Number.isFinite)).median;
    const phase = (/** @type {string} */ a, /** @type {string} */ b) =>
      med((h) => (h.phases?.[b] ?? NaN) - (h.phases?.[a] ?? NaN));
    const top = (t.cpuProfile?.top ?? [])
      .slice(0, 6)
      .map((/** @type {any} */ x) => `${x.fn} ${x.ms}`)
      .join(', ');
    const lastSwitch = Math.max(...hs.map((h) => h.phases?.switched ?? 0));
    out.push(
      `where ferry's ${c === 'first' ? 'first' : 'incremental'} deploy spends its ${f(t.ms / 1000)} s (one traced run; medians over the hosts, ms; ferry's own marks): before the first ssh (node start, resolve, build check) ${f(
        med((h) => h.masterAtMs),
        0,
      )}; ssh login with the probe in its session ${f(
        med((h) => (h.phases?.probed ?? NaN) - h.masterAtMs),
        0,
      )}; planning ${f(phase('probed', 'planned'), 0)}; receive (pack here, unpack there, sync, stage the generation; its session was started during the login) ${f(phase('planned', 'staged'), 0)}; switch (a line to the login's session: rename, sync; and the wait for the other hosts' staging) ${f(phase('staged', 'switched'), 0)}; after the last switch until exit ${f(t.ms - lastSwitch, 0)}. Controller CPU ${f(t.userS + t.sysS, 1)} s; main thread's self time, ms: ${top}.`,
    );
  }
  out.push(
    `times: wall clock of the whole deploy to all 3 hosts (ferry: the \`ferry deploy\` process, which works on the hosts in parallel; rsync: 3 rsync processes started at once, until the last exits), min and median of ${r.options.runs} runs after a warm-up round; every round starts from empty hosts; every step is checked afterwards (every store path on every host with the controller's files and bytes; ferry: the generation's closure and the top program run on the host). wire MB: tx+rx bytes of the 3 root-side veths during the step (everything on the wire: ssh, TCP/IP and Ethernet headers). sent MB: the tool's own count (ferry: bytesSent summed over hosts — the compressed store paths, not the generation tree or scripts; rsync: "Total bytes sent" of --stats). ctl CPU s: user+sys of the controller-side processes (GNU time; ferry's node with its ssh children, the rsync processes with theirs). all CPU s: the whole machine's non-idle CPU during the step (hosts' sshd, tar, gzip -d and rsync included, and other jobs'). Load average at start ${r.machine.loadavg}, at end ${r.loadavgAtEnd} (${r.machine.cpus} CPUs).`,
  );
  for (const n of r.notes) out.push(n);
  // Target (the issue): ferry's incremental deploy sends no more bytes than rsync and takes no longer.
  const verdicts = [];
  for (const c of CASES) {
    const a = res(c, 'ferry');
    const b = res(c, 'rsync');
    if (a === undefined || b === undefined) continue;
    const bytesOk = a.wireMedianBytes <= b.wireMedianBytes;
    const lo = a.minMs / b.minMs;
    const mid = a.medianMs / b.medianMs;
    const timeOk = lo <= 1 && mid <= 1;
    const s = `${caseLabel(c)}: bytes ${f(a.wireMedianBytes / b.wireMedianBytes)}x (${bytesOk ? 'no more' : 'MORE'}), time ${f(lo)}x (min), ${f(mid)}x (median) (${timeOk ? 'no longer' : lo <= 1 ? 'no longer on the minimum only' : 'LONGER'})`;
    verdicts.push(c === 'incremental' ? `${s} → ${bytesOk && timeOk ? 'meets' : 'MISSES'} the target` : s);
  }
  if (verdicts.length > 0) out.push('', 'ferry against rsync -a:', ...verdicts.map((v) => `- ${v}`));
  return out.join('\n');
}

async function output() {
  const table = render(report);
  process.stdout.write(`${table}\n`);
  report.table = table;
  if (args['no-write'] !== undefined) return;
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const partial =
    failed || opt.runs < 3 || ['packages', 'mb', 'change', 'ferry'].some((k) => args[k] !== undefined);
  const file = join(dir, `fleet-${report.date.slice(0, 10)}${partial ? '-partial' : ''}.json`);
  await writeReport(file, report);
  log(`wrote ${file}`);
}

function machine() {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? '',
    cpus: cpus().length,
    kernel: release(),
    loadavg: loadavg(),
  };
}

function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** @param {number | undefined} x */
function f0(x) {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0);
}

/** @param {Buffer | string} b */
function firstLine(b) {
  return b.toString().trim().split('\n')[0];
}

/** @param {string} text */
function tail(text, lines = 8) {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** --key value and --flag. @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string | true>} */
  const out = {};
  const flags = ['no-rsync-z', 'keep', 'no-write'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (flags.includes(key)) out[key] = true;
    else if (['packages', 'mb', 'runs', 'change', 'ferry', 'render'].includes(key) && i + 1 < argv.length)
      out[key] = argv[++i];
    else throw new Error(`unknown option ${a} (see the comment at the top of bench/fleet.mjs)`);
  }
  return out;
}
