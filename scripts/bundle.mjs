#!/usr/bin/env node
// Makes the command users run from tsc's output (run after `tsc -b`; npm run build does both):
// - dist/ferry-core.cjs: dist/main.js and everything it imports in one CommonJS module. Loading ~110 ES modules
//   one by one cost about 100 ms of every start; CommonJS also loads Node's built-in modules faster than ESM.
// - dist/ferry.cjs: scripts/launcher.cjs, which runs the bundle with a V8 code cache, given the command words.
// - dist/ferry-extract.cjs: the extraction worker (pkg/extract-worker.js and what it imports).
// - dist/ferry.js: for `node dist/ferry.js` (ESM, as package.json's "type" makes every .js): imports ferry.cjs.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
// The build's identity (core/build-id.ts): a digest of every module bundled and of package.json.
const digest = createHash('sha256');
for (const f of readdirSync(dist, { recursive: true, encoding: 'utf8' }).sort())
  if (f.endsWith('.js') && !f.endsWith('.test.js') && f !== 'ferry.js')
    digest.update(`${f}\0`).update(readFileSync(join(dist, f)));
digest.update(readFileSync(join(root, 'package.json')));
const out = await build({
  entryPoints: [join(dist, 'main.js')],
  outfile: join(dist, 'ferry-core.cjs'),
  write: false,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
  define: {
    'import.meta.url': 'ferryCoreUrl',
    FERRY_BUILD_ID: JSON.stringify(digest.digest('hex').slice(0, 32)),
  },
});
// import.meta.url in a CommonJS bundle: the bundle's own file URL (app.ts finds the package directory by it).
// The launcher compiles the bundle as a function body, where main.ts's #! line would be a syntax error.
const core = join(dist, 'ferry-core.cjs');
const bundled = (out.outputFiles[0]?.text ?? '').replace(/^#!.*\n/, '');
// A dynamic import() needs a module loader the launcher's vm.Script lacks on older Node 20 releases.
const dynamic = bundled.split('\n').findIndex((l) => /\bimport\(/.test(l));
if (dynamic >= 0)
  throw new Error(`dist/ferry-core.cjs:${dynamic + 1}: import() in the bundle; use a static import`);
// Built-in modules most commands never use load on first use, not at start: about 7 ms of crypto, 6 ms of
// child_process, http, net, zlib and readline, 4 ms of streams, and 2–3 ms of fs/promises (which loads readline's
// interface) at every start, before anything runs. esbuild reads a named import as a property of
// `var import_x = require("node:x")`, and a namespace import (`import * as fs`) as a property of
// `var fs = __toESM(require("node:x"), 1)`, so a proxy that requires on the first property read is enough.
const LAZY_IDS =
  'crypto|child_process|http|https|net|zlib|readline\\/promises|stream|stream\\/promises|worker_threads|tty|fs\\/promises';
const LAZY = new RegExp(
  `^var (\\w+) = (?:require\\("(node:(?:${LAZY_IDS}))"\\)|__toESM\\(require\\("(node:(?:${LAZY_IDS}))"\\), 1\\));$`,
  'gm',
);
const helper = `var lazyBuiltin = (id) => {
  let m;
  const load = () => (m ??= require(id));
  return new Proxy({}, {
    get: (_, k) => load()[k],
    has: (_, k) => k in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, k) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), k);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  });
};`;
/** The bundle's text with LAZY's modules loaded on first use (and the helper that does it). */
function lazify(/** @type {string} */ text, /** @type {string} */ what) {
  let lazy = 0;
  const rewritten = text.replace(LAZY, (_, name, id, nsId) => {
    lazy++;
    return `var ${name} = lazyBuiltin(${JSON.stringify(id ?? nsId)});`;
  });
  if (lazy === 0)
    throw new Error(`${what}: no built-in module import matched LAZY: did esbuild change its output?`);
  return `${helper}\n${rewritten}`;
}
const rewritten = lazify(bundled, 'dist/ferry-core.cjs');
writeFileSync(core, `var ferryCoreUrl = require("node:url").pathToFileURL(__filename).href;\n${rewritten}`);

// The worker threads that extract packages (pkg/extract-pool.ts) run this, beside the bundle. Its built-ins
// load on first use too: a worker that extracts local files never needs http and https (~10 ms of its start).
const worker = await build({
  entryPoints: [join(dist, 'pkg', 'extract-worker.js')],
  bundle: true,
  write: false,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
  define: { 'import.meta.url': 'ferryCoreUrl' },
});
writeFileSync(
  join(dist, 'ferry-extract.cjs'),
  `var ferryCoreUrl = require("node:url").pathToFileURL(__filename).href;\n${lazify(worker.outputFiles[0]?.text ?? '', 'dist/ferry-extract.cjs')}`,
);

const { COMMANDS } = await import(pathToFileURL(join(dist, 'cli', 'commands.js')).href);
const verbs = [...new Set(COMMANDS.map((/** @type {{ words: string[] }} */ c) => c.words[0]))].sort();
const launcher = readFileSync(join(root, 'scripts', 'launcher.cjs'), 'utf8');
if (!launcher.includes('/*VERBS*/ []')) throw new Error('scripts/launcher.cjs lost its /*VERBS*/ [] marker');
writeFileSync(join(dist, 'ferry.cjs'), launcher.replace('/*VERBS*/ []', JSON.stringify(verbs)));
chmodSync(join(dist, 'ferry.cjs'), 0o755);
writeFileSync(join(dist, 'ferry.js'), "#!/usr/bin/env node\nimport './ferry.cjs';\n");
chmodSync(join(dist, 'ferry.js'), 0o755);
