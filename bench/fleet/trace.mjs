// @ts-check
/**
 * Where a `ferry deploy` spends its time, seen from outside (no change to ferry): an `ssh` wrapper first on
 * PATH logs when each ssh command ferry runs starts and ends and which host script it carries (probe,
 * receive, stage, switch, check), and node's --cpu-prof gives the main thread's profile.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Writes `<dir>/bin/ssh`, which runs the real ssh and appends `start end status kind destination` (ns) to
 * `<dir>/ssh.log`. The control master (-M) is exec'd (ferry stops it with a signal), so only its start is
 * logged. @param {string} dir
 */
export function sshTracer(dir) {
  const real = spawnSync('sh', ['-c', 'command -v ssh']).stdout.toString().trim();
  if (real === '') throw new Error('no ssh on PATH');
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(dir, 'ssh.log');
  writeFileSync(
    join(bin, 'ssh'),
    `#!/bin/sh
# The fleet benchmark's ssh tracer (bench/fleet/trace.mjs): times every ssh command ferry runs.
t0=$(date +%s%N)
dest= ; last= ; seen=0; master=0
for a; do
  if [ "$seen" = 1 ] && [ -z "$dest" ]; then dest=$a; fi
  [ "$a" = -- ] && seen=1
  [ "$a" = -M ] && master=1
  last=$a
done
if [ "$master" = 1 ]; then
  echo "$t0 - - master $dest" >> '${log}'
  exec '${real}' "$@"
fi
case "$last" in
  *'echo "os '*) k=probe ;;
  *'-dc || : >'*) k=receive ;;
  *'mv -Tf'*) k=switch ;;
  *'exec sh -c "$check"'*) k=check ;;
  *) k=other ;;
esac
'${real}' "$@"
rc=$?
echo "$t0 $(date +%s%N) $rc $k $dest" >> '${log}'
exit $rc
`,
  );
  chmodSync(join(bin, 'ssh'), 0o755);
  return { bin, log };
}

/**
 * The ssh log as a per-host timeline in ms from `t0Ns` (when the deploy process was spawned, same clock as
 * `date +%s%N`): when the master started, when its first command started (≈ login done), and the time spent
 * in each kind of host script. @param {string} file @param {bigint} t0Ns
 */
export function sshTimeline(file, t0Ns) {
  if (!existsSync(file)) return {};
  const ms = (/** @type {string} */ ns) => Number(BigInt(ns) - t0Ns) / 1e6;
  /** @type {Record<string, any>} */
  const hosts = {};
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  for (const l of lines) {
    const [a, b, rc, kind, dest] = l.split(' ');
    const h = (hosts[dest] ??= {
      masterAtMs: undefined,
      firstCommandAtMs: undefined,
      lastEndMs: 0,
      scripts: {},
    });
    if (kind === 'master') {
      h.masterAtMs = ms(a);
      continue;
    }
    const start = ms(a);
    const end = ms(b);
    h.firstCommandAtMs = Math.min(h.firstCommandAtMs ?? Infinity, start);
    h.lastEndMs = Math.max(h.lastEndMs, end);
    const s = (h.scripts[kind] ??= { n: 0, ms: 0, failed: 0 });
    s.n++;
    s.ms += end - start;
    if (rc !== '0') s.failed++;
  }
  return hosts;
}

/**
 * The main thread's self time by function from node's --cpu-prof output in `dir` (the newest profile): the
 * top `n` entries, in ms, with the profile's span. zlib's compression runs on libuv's thread pool and is not
 * in it (the main thread is then idle or in "(program)"). @param {string} dir @param {number} n
 */
export function cpuProfileTop(dir, n = 12) {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) return undefined;
  const prof = JSON.parse(readFileSync(join(dir, files.sort().at(-1) ?? ''), 'utf8'));
  /** @type {Map<number, any>} */
  const nodes = new Map(prof.nodes.map((/** @type {any} */ x) => [x.id, x]));
  /** @type {Map<string, number>} */
  const self = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const node = nodes.get(prof.samples[i]);
    const f = node?.callFrame ?? {};
    const where = f.url ? ` ${basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  }
  const total = (prof.endTime - prof.startTime) / 1000;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, ms]) => ({ fn, ms: Math.round(ms) }));
  return { spanMs: Math.round(total), top };
}
