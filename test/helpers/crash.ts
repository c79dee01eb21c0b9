import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Mulberry32: a tiny seeded PRNG, so kill points are the same on every run with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface KillOutcome {
  /** True when SIGKILL reached a running process; false when it had already exited. */
  readonly killed: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** From spawn to exit, in milliseconds. */
  readonly ranMs: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** SIGKILL `child` `delayMs` after it was spawned (at `startedAt`, from performance.now()), and wait for it. */
export function killAfter(child: ChildProcess, startedAt: number, delayMs: number): Promise<KillOutcome> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let killed = false;
    const timer = setTimeout(
      () => {
        if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
      },
      Math.max(0, startedAt + delayMs - performance.now()),
    );
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        killed: killed && signal === 'SIGKILL',
        code,
        signal,
        ranMs: performance.now() - startedAt,
        stdout,
        stderr,
      });
    });
  });
}

/** Processes (other than this one) whose command line mentions `marker`: builds a killed ferry left running. */
export async function processesMentioning(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = await fs.readFile(join('/proc', name, 'cmdline'), 'utf8');
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (cmdline.includes(marker)) found.push(`${name}: ${cmdline.split('\0').join(' ').trim()}`);
  }
  return found;
}

/** Wait up to `timeoutMs` for every process mentioning `marker` to go; returns those still there. */
export async function waitForNoProcesses(marker: string, timeoutMs: number): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = await processesMentioning(marker);
    if (left.length === 0 || performance.now() > deadline) return left;
    await sleep(25);
  }
}

/** Run an executable and return its trimmed stdout, or the failure as text (so an assertion can show it). */
export async function runProgram(file: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await execFileAsync(file, [], { env, encoding: 'utf8', timeout: 10_000 });
    return stdout.trim();
  } catch (e) {
    return `<failed: ${e instanceof Error ? e.message : String(e)}>`;
  }
}

/** Every path below `dir` (not following symlinks, not descending into `skip`), relative, sorted. */
export async function listTree(dir: string, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  async function visit(rel: string): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(rel === '' ? dir : join(dir, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      out.push(r);
      if (skip(r)) continue;
      const st = await fs.lstat(join(dir, r));
      if (st.isDirectory()) await visit(r);
    }
  }
  await visit('');
  return out;
}

/**
 * SIGKILL `child` as soon as `ready()` holds (polled about every millisecond), and wait for it. `killed` is
 * false when the child exited before `ready()` ever held.
 */
export async function killWhen(child: ChildProcess, ready: () => boolean): Promise<KillOutcome> {
  const startedAt = performance.now();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve([code, signal]);
    });
  });
  let killed = false;
  while (child.exitCode === null && child.signalCode === null) {
    if (ready()) {
      killed = child.kill('SIGKILL');
      break;
    }
    await sleep(1);
  }
  const [code, signal] = await closed;
  return {
    killed: killed && signal === 'SIGKILL',
    code,
    signal,
    ranMs: performance.now() - startedAt,
    stdout,
    stderr,
  };
}
