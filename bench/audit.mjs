#!/usr/bin/env node
// @ts-check
/**
 * Audit benchmark: 500 packages against 10,000 advisories (half OSV records with two ECOSYSTEM intervals and a
 * `versions` list, half pkgsrc patterns: dewey bounds, `{a,b}` alternatives and 2% wildcard names that every
 * package must try), synthetic and seeded, so runs compare. OSV records alternate a CVSS v3.1 vector with one of
 * 300 distinct CVSS v4.0 vectors (published databases repeat a few hundred vectors), and their parsing, scores
 * included, is timed. Also loads and audits the real pkgsrc snapshot
 * when /work/shared/data/advisories is present. Not a test: prints figures.
 *
 *   npx tsc -b && node bench/audit.mjs [--packages N] [--advisories N] [--runs N]
 */
import { existsSync } from 'node:fs';
import {
  audit,
  CVSS4_BASE_METRICS,
  indexAdvisories,
  loadAdvisories,
  parseOsvRecord,
} from '../dist/audit/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const nPackages = arg('packages', 500);
const nAdvisories = arg('advisories', 10_000);
const runs = arg('runs', 7);

let seed = 42;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const names = Array.from(
  { length: 3000 },
  (_, i) => `lib${i.toString(36)}-${['core', 'util', 'net'][i % 3]}`,
);
const ver = () => `${rand(4)}.${rand(20)}.${rand(30)}`;

const v4Vectors = Array.from(
  { length: 300 },
  () =>
    `CVSS:4.0/${Object.entries(CVSS4_BASE_METRICS)
      .map(([k, v]) => `${k}:${v[rand(v.length)]}`)
      .join('/')}`,
);
const severityFor = (i) =>
  i % 4 === 0
    ? { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }
    : { type: 'CVSS_V4', score: v4Vectors[rand(v4Vectors.length)] };

const advisories = [];
let parseMs = 0;
for (let i = 0; i < nAdvisories; i++) {
  const name = names[rand(names.length)];
  if (i % 2 === 0) {
    const record = {
      id: `BENCH-${i}`,
      modified: '2026-01-01T00:00:00Z',
      aliases: [`CVE-2026-${i}`],
      severity: [severityFor(i)],
      affected: [
        {
          package: { name, ecosystem: 'Debian:12' },
          ranges: [
            {
              type: 'ECOSYSTEM',
              events: [{ introduced: '0' }, { fixed: ver() }, { introduced: '3.0' }, { fixed: ver() }],
            },
          ],
          versions: [ver(), ver()],
        },
      ],
    };
    const t = performance.now();
    advisories.push(parseOsvRecord(record, 'bench'));
    parseMs += performance.now() - t;
  } else {
    const pattern =
      i % 100 === 1
        ? `*${name.slice(3)}-[0-9]*`
        : i % 10 === 3
          ? `{${name},${names[rand(names.length)]}}<${ver()}`
          : `${name}>=${ver()}<${ver()}nb${rand(3)}`;
    advisories.push({
      id: `PKGSRC-${i}`,
      aliases: [],
      summary: 'bench',
      severity: 'unknown',
      affected: [{ kind: 'pkgsrc', pattern }],
      source: 'bench',
    });
  }
}
const packages = Array.from({ length: nPackages }, (_, i) => ({
  name: names[(i * 7) % names.length],
  version: ver(),
  where: ['default'],
}));

const time = (f) => {
  const t = performance.now();
  const r = f();
  return [performance.now() - t, r];
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const idx = [];
const match = [];
let findings = 0;
for (let r = 0; r < runs; r++) {
  const [ti, index] = time(() => indexAdvisories(advisories));
  const [tm, res] = time(() => audit(packages, index));
  idx.push(ti);
  match.push(tm);
  findings = res.findings.length;
}
console.log(
  `${nAdvisories / 2} OSV records (${v4Vectors.length} distinct CVSS v4.0 vectors) parsed and scored in ${parseMs.toFixed(1)} ms`,
);
console.log(
  `${nPackages} packages x ${nAdvisories} advisories: index ${median(idx).toFixed(1)} ms, match ${median(match).toFixed(1)} ms (median of ${runs}), ${findings} findings; node ${process.version}`,
);

const snapshot = '/work/shared/data/advisories/pkg-vulnerabilities.netbsd-1.3817-2011-04-06.txt';
if (existsSync(snapshot)) {
  const t = performance.now();
  const loaded = await loadAdvisories([snapshot]);
  const tl = performance.now() - t;
  const [tm, res] = time(() => audit(packages, indexAdvisories(loaded.advisories)));
  console.log(
    `real pkg-vulnerabilities (${loaded.advisories.length} entries): read + verify SHA1/SHA512 ${tl.toFixed(1)} ms, index + match ${nPackages} packages ${tm.toFixed(1)} ms (${res.findings.length} findings)`,
  );
}
