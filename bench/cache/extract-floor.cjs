'use strict';
// What Node costs, alone: two worker threads running ferry's extractor (dist/ferry-extract.cjs) over a cache's
// archives, largest first, and nothing else (no resolution, manifests, signatures, records or profile). The
// floor under `ferry install` from the same cache; see bench/README.md ("What Node costs, measured alone").
//
//   /usr/bin/time node bench/cache/extract-floor.cjs CACHE/pkg EMPTY-DIR [WORKERS [EXTRACTOR]]
//
// EXTRACTOR is the worker script (default: this checkout's dist/ferry-extract.cjs); bench/cache.mjs passes its
// snapshot's, and times this script as the "node alone" row. Each archive goes to EMPTY-DIR/<its base name>.
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { Worker } = require('node:worker_threads');

const [pkgDir, dest, n = '2', extractor = join(__dirname, '../../dist/ferry-extract.cjs')] =
  process.argv.slice(2);
if (pkgDir === undefined || dest === undefined) {
  console.error('usage: node bench/cache/extract-floor.cjs CACHE/pkg EMPTY-DIR [WORKERS [EXTRACTOR]]');
  process.exit(2);
}
const workers = Array.from({ length: Number(n) }, () => new Worker(extractor));
const archives = readdirSync(pkgDir)
  .filter((f) => f.endsWith('.tar.gz'))
  .map((f) => ({ f, size: statSync(join(pkgDir, f)).size }))
  .sort((a, b) => b.size - a.size);
const held = workers.map(() => 0);
let left = archives.length;
workers.forEach((w, i) =>
  w.on('message', (m) => {
    if ('bytes' in m) return;
    if ('error' in m) {
      console.error(m.error.message);
      process.exitCode = 1;
    }
    held[i]--;
    if (--left === 0) for (const x of workers) void x.terminate();
  }),
);
archives.forEach(({ f }, id) => {
  const i = held.indexOf(Math.min(...held));
  held[i]++;
  workers[i].postMessage({
    id,
    input: { kind: 'file', path: join(pkgDir, f) },
    target: join(dest, f.replace(/\.tar\.gz$/, '')),
    what: f,
    // Only checked when an archive fails to extract (src/pkg/extract.ts); these come from a verified cache.
    want: '0'.repeat(64),
    readOnly: true,
    progress: false,
  });
});
