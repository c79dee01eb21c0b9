// @ts-check
/**
 * Helpers of the fleet benchmark: running a command asynchronously with its wall time and CPU time, the byte
 * counters of the testbed's veth pairs, and the machine's CPU time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TIME = '/usr/bin/time'; // GNU time: the command's user and system CPU, its waited-for children included
let seq = 0;

/**
 * @typedef {{ ms: number, status: number | null, stdout: string, stderr: string, userS?: number,
 *             sysS?: number }} Ran
 */

/**
 * Runs `file args…` to completion without blocking the event loop (three of them can run at once); the wall
 * time is from spawn to exit, as a user sees it.
 * @param {string} file @param {string[]} args @param {{ env?: NodeJS.ProcessEnv, cwd?: string }} [opts]
 * @returns {Promise<Ran>}
 */
export function run(file, args, opts = {}) {
  const useTime = existsSync(TIME);
  const out = `/tmp/.fleet-bench-time-${process.pid}-${++seq}`;
  const [f, a] = useTime ? [TIME, ['-f', '%U %S', '-o', out, file, ...args]] : [file, args];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(f, a, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const so = [];
    /** @type {Buffer[]} */
    const se = [];
    child.stdout.on('data', (d) => so.push(d));
    child.stderr.on('data', (d) => se.push(d));
    child.on('error', (e) => se.push(Buffer.from(String(e))));
    child.on('close', (status) => {
      const ms = performance.now() - t0;
      /** @type {Ran} */
      const r = { ms, status, stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString() };
      if (useTime && existsSync(out)) {
        // GNU time writes "Command exited with non-zero status N" first when the command fails.
        const last = readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '';
        const [u, s] = last.split(' ').map(Number);
        if ([u, s].every(Number.isFinite)) Object.assign(r, { userS: u, sysS: s });
        rmSync(out, { force: true });
      }
      resolve(r);
    });
  });
}

/** The root-namespace end of the veth pair that reaches `ip` (what `ip route get` says). @param {string} ip */
export function vethFor(ip) {
  const r = spawnSync('ip', ['-o', 'route', 'get', ip]);
  const m = /\bdev (\S+)/.exec(r.stdout.toString());
  if (m === null) throw new Error(`no route to ${ip}: ${r.stderr.toString().trim()}`);
  if (!existsSync(`/sys/class/net/${m[1]}/statistics`)) throw new Error(`no counters for ${m[1]}`);
  return m[1];
}

/** tx + rx bytes of these interfaces (every frame, headers included), summed. @param {string[]} ifaces */
export function wireBytes(ifaces) {
  let n = 0;
  for (const i of ifaces)
    for (const c of ['tx_bytes', 'rx_bytes'])
      n += Number(readFileSync(`/sys/class/net/${i}/statistics/${c}`, 'utf8').trim());
  return n;
}

/**
 * CPU seconds the whole machine spent not idle so far (user, nice, system, irq, softirq, steal), from
 * /proc/stat: the delta over a step holds both the controller's and the hosts' work (and other jobs').
 */
export function machineCpuS() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ is 100 on Linux
}

/** Files and bytes of regular files under `dir` (stat only, no reading). @param {string} dir */
export function treeSize(dir) {
  let files = 0;
  let bytes = 0;
  /** @param {string} d */
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        files++;
        bytes += st.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}
