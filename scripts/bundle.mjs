#!/usr/bin/env node
// Bundles tsc's output (dist/main.js and everything it imports) into one module, dist/ferry.js: the command
// users run. Node 20 has no compile cache, and loading ~110 ES modules one by one costs about 100 ms of every
// command's start (resolution, a file read and a compile each); one module loads in a fraction of that.
// Run after `tsc -b` (npm run build does both).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'dist', 'main.js')],
  outfile: join(root, 'dist', 'ferry.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
});
