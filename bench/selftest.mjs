#!/usr/bin/env node
// @ts-check
/**
 * Checks the benchmark's own pieces on the machine's real index, without ferry's solver:
 * - the adapter (debian-index.mjs) and the verifier (verify.mjs), two independent parsers, read every package
 *   of the index the same way (dependencies, conflicts, provides);
 * - the adapter's load-time provides table agrees with the candidates' own Provides;
 * - the verifier accepts libsolv's solutions and rejects broken ones (a missing dependency, a conflict, two
 *   versions of a name, an unknown version, a missing requested name).
 *
 *   node bench/selftest.mjs        (after `npx tsc -b`, for dist/version)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DebianIndex, findPackagesIndex, readIndex } from './debian-index.mjs';
import { Verifier } from './verify.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let failures = 0;
const check = (/** @type {boolean} */ ok, /** @type {string} */ what) => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures++;
};

const raw = readIndex(findPackagesIndex());
const index = new DebianIndex(raw);
const verifier = new Verifier(raw.toString('utf8'));

// 1. Two parsers, one reading.
const OP = /** @type {Record<string, string>} */ ({
  '<<': '<',
  '<=': '<=',
  '<': '<=',
  '=': '=',
  '>=': '>=',
  '>': '>=',
  '>>': '>',
});
const fromVerifier = (/** @type {any} */ r) =>
  r.op === undefined ? r.name : `${r.name} ${OP[r.op]} ${r.version}`;
const fromAdapter = (/** @type {any} */ t) =>
  t.range.length === 0
    ? t.name
    : t.range.map((/** @type {any} */ c) => `${t.name} ${c.op} ${c.version}`).join(', ');
let candidates = 0;
let differ = 0;
/** @type {Map<string, Set<string>>} */
const provided = new Map();
for (const name of index.allNames())
  for (const c of index.byName(name)) {
    candidates++;
    const p = verifier.pkg(`${c.name}=${c.version}`);
    const a = JSON.stringify([
      c.depends.map((d) => d.alternatives.map(fromAdapter)),
      c.conflicts.map(fromAdapter),
      c.provides.map((x) => (x.version === undefined ? x.name : `${x.name} = ${x.version}`)),
    ]);
    const b =
      p === undefined
        ? 'missing'
        : JSON.stringify([
            p.depends.map((cl) => cl.map(fromVerifier)),
            p.conflicts.filter((r) => r.name !== c.name).map(fromVerifier),
            p.provides
              .filter((r) => r.name !== c.name)
              .map((r) => (r.op === '=' ? `${r.name} = ${r.version}` : r.name)),
          ]);
    if (a !== b && differ++ < 3)
      process.stdout.write(`  ${c.name} ${c.version}\n    adapter:  ${a}\n    verifier: ${b}\n`);
    for (const x of c.provides) {
      const set = provided.get(x.name) ?? new Set();
      set.add(`${c.name}=${c.version}`);
      provided.set(x.name, set);
    }
  }
check(differ === 0, `adapter and verifier read all ${candidates} packages alike (${differ} differ)`);

// 2. The load-time provides table.
let wrong = 0;
for (const [name, set] of provided) {
  const got = new Set(index.providersOf(name).map((c) => `${c.name}=${c.version}`));
  if (got.size !== set.size || [...set].some((k) => !got.has(k))) wrong++;
}
check(wrong === 0, `providersOf agrees with the candidates' Provides for ${provided.size} virtual names`);

// 3. The verifier on libsolv's answers, and on broken ones.
const work = mkdtempSync(join(tmpdir(), 'ferry-selftest-'));
const packages = join(work, 'Packages');
writeFileSync(packages, raw);
const jobs = [
  { id: 'nginx', names: ['nginx'] },
  { id: 'gnome-core', names: ['gnome-core'] },
  { id: 'important', names: index.namesWithPriority('important') },
];
const r = spawnSync('/usr/bin/python3', [join(here, 'peers/libsolv.py')], {
  input: JSON.stringify({ packages, loads: 1, runs: 1, jobs }),
  maxBuffer: 1 << 28,
});
rmSync(work, { recursive: true, force: true });
if (r.status !== 0) check(false, `libsolv peer: ${r.stderr.toString()}`);
else {
  const out = JSON.parse(r.stdout.toString());
  for (const j of out.jobs) {
    const v = verifier.verify(j.installed, jobs.find((x) => x.id === j.id)?.names ?? []);
    check(
      v.ok && j.count > 0,
      `libsolv's ${j.id} (${j.count} packages) verifies${v.ok ? '' : `: ${v.errors[0]}`}`,
    );
  }
  /** @type {string[]} */
  const nginx = out.jobs[0].installed;
  const libc = nginx.find((k) => k.startsWith('libc6='));
  const broken = [
    ['a missing dependency', nginx.filter((k) => k !== libc), /unsatisfied libc6/],
    ['an unknown version', [...nginx, 'libc6=2.0-1'], /not in the index/],
    ['a requested name missing', nginx.filter((k) => !k.startsWith('nginx=')), /requested nginx/],
  ];
  const postfix = index.byName('postfix')[0];
  const exim = index.byName('exim4-daemon-light')[0];
  if (postfix !== undefined && exim !== undefined)
    broken.push([
      'two mail transport agents',
      [...nginx, `postfix=${postfix.version}`, `exim4-daemon-light=${exim.version}`],
      /conflicts with mail-transport-agent/,
    ]);
  const older = index.byName('linux-doc');
  if (older.length > 1)
    broken.push([
      'two versions of linux-doc',
      [...nginx, ...older.map((c) => `linux-doc=${c.version}`)],
      /two versions of linux-doc/,
    ]);
  for (const [what, set, pattern] of broken) {
    const v = verifier.verify(/** @type {string[]} */ (set), ['nginx']);
    check(
      !v.ok && v.errors.some((e) => /** @type {RegExp} */ (pattern).test(e)),
      `the verifier rejects ${what}${v.ok ? ' (it did not)' : `: ${v.errors.find((e) => /** @type {RegExp} */ (pattern).test(e)) ?? v.errors[0]}`}`,
    );
  }
}

process.stdout.write(failures === 0 ? 'all checks pass\n' : `${failures} check(s) failed\n`);
process.exitCode = failures === 0 ? 0 : 1;
