// @ts-check
/**
 * Helpers of the binary cache benchmark: timing a command, hashing a tree, summary statistics.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import { join } from 'node:path';

const TIME = '/usr/bin/time'; // GNU time, for the child's CPU and peak memory (optional)

/**
 * @typedef {{ ms: number, userS?: number, sysS?: number, maxRssMb?: number, status: number | null,
 *             stdout: string, stderr: string }} Timed
 */

/**
 * Runs `file args…` to completion and measures its wall time from here (spawn to exit, so process start-up is
 * in it, as it is for a user). CPU time and peak RSS come from GNU time when it is installed; it adds about a
 * millisecond of exec, the same for every tool.
 * @param {string} file
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, cwd?: string }} [opts]
 * @returns {Timed}
 */
export function timed(file, args, opts = {}) {
  const useTime = existsSync(TIME);
  const out = `/tmp/.cache-bench-time-${process.pid}`;
  const [f, a] = useTime ? [TIME, ['-f', '%U %S %M', '-o', out, file, ...args]] : [file, args];
  const t0 = performance.now();
  const r = spawnSync(f, a, { env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  /** @type {Timed} */
  const res = {
    ms,
    status: r.status,
    stdout: r.stdout?.toString() ?? '',
    stderr: r.stderr?.toString() ?? String(r.error ?? ''),
  };
  if (useTime && existsSync(out)) {
    // GNU time writes "Command exited with non-zero status N" first when the command fails.
    const last = readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '';
    const [u, s, m] = last.split(' ').map(Number);
    if ([u, s, m].every(Number.isFinite)) Object.assign(res, { userS: u, sysS: s, maxRssMb: m / 1024 });
    rmSync(out, { force: true });
  }
  return res;
}

/**
 * A digest of a directory tree's content: every entry's relative path (sorted), kind, the executable bit of
 * files, their sha256, and symlink targets. Two trees with the same digest hold the same bytes at the same
 * names. `skip` names top-level entries to leave out (Nix's nix-support/).
 * @param {string} dir
 * @param {string[]} [skip]
 */
export function treeDigest(dir, skip = []) {
  const h = createHash('sha256');
  let files = 0;
  let bytes = 0;
  /** @param {string} rel */
  const walk = (rel) => {
    const names = readdirSync(join(dir, rel)).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (rel === '' && skip.includes(name)) continue;
      const p = join(dir, r);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) h.update(`l ${r} ${readlinkSync(p)}\n`);
      else if (st.isDirectory()) {
        h.update(`d ${r}\n`);
        walk(r);
      } else {
        const data = readFileSync(p);
        files++;
        bytes += data.length;
        const x = st.mode & 0o111 ? 'x' : '-';
        h.update(`f ${r} ${x} ${createHash('sha256').update(data).digest('hex')}\n`);
      }
    }
  };
  walk('');
  return { digest: h.digest('hex'), files, bytes };
}

/** `<name>-<version>` of a store path's base name `<32 hash chars>-<name>-<version>` (ferry's and Nix's alike). */
export const pkgKey = (/** @type {string} */ base) => base.replace(/^[0-9a-z]{32}-/, '');

/** Minimum and median of a list of numbers (the lower median for an even count). @param {number[]} xs */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)], max: s.at(-1), n: s.length };
}

/**
 * The environment ferry's processes get: this one without NODE_EXTRA_CA_CERTS. Node parses that whole
 * certificate bundle at every start (about 80 ms on these machines, for a file:// or loopback install that
 * makes no TLS connection); a user's shell does not normally set it.
 */
export function ferryEnv() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Wall time of one `node -e 0` in `env`: the floor under any command of ferry's. @param {NodeJS.ProcessEnv} env */
export function nodeStart(env) {
  return timed(process.execPath, ['-e', '0'], { env }).ms;
}

/**
 * On ext4 without a journal (as on these VMs), an inode freed less than a minute ago is not reused
 * (RECENTCY_MIN in fs/ext4/ialloc.c), and every file created meanwhile pays a scan past all of them: with perf,
 * half the CPU of a 3,400-file install went to recently_deleted() right after the previous run's tree was
 * deleted. So the benches delete nothing between timed runs, and let the fixtures' deletions age first.
 */
export const INODE_AGE_S = 65;

/** Waits INODE_AGE_S seconds, saying so. @param {(s: string) => void} log */
export async function letFreedInodesAge(log) {
  log(`waiting ${INODE_AGE_S} s for inodes the fixtures freed to age (see INODE_AGE_S)…`);
  await new Promise((r) => setTimeout(r, INODE_AGE_S * 1000));
}

/** Whether `dir`'s file system has `bytes` free (made first if missing). @param {string} dir @param {number} bytes */
export function hasRoomFor(dir, bytes) {
  mkdirSync(dir, { recursive: true });
  const st = statfsSync(dir);
  return st.bavail * st.bsize > bytes;
}
