#!/usr/bin/env node
'use strict';
// The command users run (dist/ferry.cjs; scripts/bundle.mjs fills in VERBS). It loads the bundle
// dist/ferry-core.cjs with a V8 code cache, so a command does not recompile what the previous one compiled:
// Node 20 has no compile cache of its own, and compiling the bundle cost about 15 ms of every start.
//
// One cache per top-level command word: V8 saves only the functions that ran, so `ferry install` keeps what
// install needs however often `ferry --help` runs. A cache is written when missing or rejected (V8 checks its
// version, flags and the source's length), at exit, so it holds the functions compiled lazily on the way; the
// key also holds the bundle's size, mtime and inode, because V8 would accept a cache for a different source of
// the same length. Writes go through a temporary file and a rename; any failure only costs the speed-up.
// FERRY_CODE_CACHE=0 turns it off.
const {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} = require('node:fs');
const { homedir } = require('node:os');
const { join } = require('node:path');
const { Script, constants } = require('node:vm');
const Module = require('node:module');

const VERBS = /*VERBS*/ [];
const core = join(__dirname, 'ferry-core.cjs');
const source = readFileSync(core, 'utf8');
const cache = process.env.FERRY_CODE_CACHE === '0' ? undefined : cacheFile();
let data;
try {
  if (cache !== undefined) data = readFileSync(cache.file);
} catch {
  data = undefined;
}
// The bundle has no import() (scripts/bundle.mjs checks); the default loader is only a safety net.
const loader = constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
const script = new Script(Module.wrap(source), {
  filename: core,
  cachedData: data,
  ...(loader === undefined ? {} : { importModuleDynamically: loader }),
});
if (cache !== undefined && (data === undefined || script.cachedDataRejected === true))
  process.once('exit', () => save(cache));
const module_ = { exports: {}, filename: core, id: core, loaded: false };
script.runInThisContext()(module_.exports, Module.createRequire(core), module_, core, __dirname);

function cacheFile() {
  try {
    const st = statSync(core);
    const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
    const key = [process.version, process.arch, st.size, Math.trunc(st.mtimeMs), st.ino].join('-');
    const verb = process.argv.slice(2).find((a) => VERBS.includes(a)) ?? 'none';
    return { dir: join(base, 'ferry', 'code'), key, file: join(base, 'ferry', 'code', `${key}.${verb}.bin`) };
  } catch {
    return undefined;
  }
}

function save({ dir, key, file }) {
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, file);
    // Caches of other builds: kept a day, so two checkouts used in turn do not keep evicting each other.
    const old = Date.now() - 86_400_000;
    for (const f of readdirSync(dir))
      if (!f.startsWith(`${key}.`) && statSync(join(dir, f)).mtimeMs < old) unlinkSync(join(dir, f));
  } catch {
    // A read-only or full cache directory only costs the speed-up.
  }
}
