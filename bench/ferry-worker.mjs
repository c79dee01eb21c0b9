// @ts-check
/**
 * ferry's side of the resolver benchmark for one job, in its own worker thread: a fresh V8 isolate, so the
 * first load and the first solve run with a cold JIT and a cold index, as in a `ferry` process. The main
 * script can also stop a job that runs away.
 *
 * workerData: { packages, arch, loads, runs, warmup, job: { id, names }, solver?: module URL }. Posts one
 * message: { id, kind, count, loadMs: number[], solveFirstMs, solveMinMs, runs, installed?, explanation?,
 * stats? }.
 *
 * - loadMs[0] is the cold load; the others are more loads of the same file (the index is rebuilt each time).
 * - solveFirstMs: the first solve, cold (JIT and candidates: the index parses each name when first asked).
 * - solveMinMs: after `warmup` untimed solves, the minimum of `runs` solves, each with a fresh solver over the
 *   same index (which keeps the candidates it has built, as libsolv's pool keeps its solvables).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDebianIndex } from './debian-index.mjs';

const { packages, arch, loads, runs, warmup, job, solver } = workerData;

const { solve, renderExplanation } = await import(solver ?? '../dist/resolve/solver/index.js');

/** @type {number[]} */
const loadMs = [];
let t0 = performance.now();
let index = loadDebianIndex(packages, { arch }).index;
loadMs.push(performance.now() - t0);

const request = { requires: index.job(job.names) };
t0 = performance.now();
/** @type {any} */
let result = solve(index, request);
const solveFirstMs = performance.now() - t0;

for (let i = 1; i < loads; i++) {
  t0 = performance.now();
  index = loadDebianIndex(packages, { arch }).index;
  loadMs.push(performance.now() - t0);
}
for (let i = 0; i < warmup; i++) solve(index, request);
const times = [];
for (let r = 0; r < runs; r++) {
  t0 = performance.now();
  result = solve(index, request);
  times.push(performance.now() - t0);
}

/** @type {Record<string, unknown>} */
const msg = {
  id: job.id,
  kind: result.kind,
  runs,
  warmup,
  loadMs,
  solveFirstMs,
  solveMinMs: Math.min(...times),
  solveMedianMs: [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)],
  stats: plain(result.stats),
};
if (result.kind === 'sat') {
  const installed = solutionKeys(result.chosen);
  msg.installed = installed;
  msg.count = installed.length;
} else {
  msg.count = 0;
  msg.explanation =
    typeof renderExplanation === 'function'
      ? String(renderExplanation(result.explanation))
      : JSON.stringify(plain(result.explanation));
}
parentPort?.postMessage(msg);

/**
 * `name=version` for each chosen candidate, whatever collection the solver returns them in (an array or set of
 * candidates, or a map to candidates or versions).
 * @param {any} chosen
 */
function solutionKeys(chosen) {
  /** @type {string[]} */
  const out = [];
  const add = (/** @type {any} */ key, /** @type {any} */ v) => {
    if (v !== null && typeof v === 'object' && 'name' in v && 'version' in v)
      out.push(`${v.name}=${v.version}`);
    else if (typeof v === 'string' && typeof key === 'string') out.push(`${key.replace(/:[^:]*$/, '')}=${v}`);
    else throw new Error(`cannot read a chosen entry: ${JSON.stringify([key, v])}`);
  };
  if (chosen instanceof Map) for (const [k, v] of chosen) add(k, v);
  else if (Array.isArray(chosen) || chosen instanceof Set) for (const v of chosen) add(undefined, v);
  else for (const [k, v] of Object.entries(chosen)) add(k, v);
  return out.sort();
}

/** A structured-clone-safe copy of solver stats or explanations. @param {any} x */
function plain(x) {
  if (x === undefined) return undefined;
  try {
    return JSON.parse(
      JSON.stringify(x, (_k, v) =>
        v instanceof Map ? Object.fromEntries(v) : v instanceof Set ? [...v] : v,
      ),
    );
  } catch {
    return String(x);
  }
}
