import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { AppError } from '../core/index.js';
import { diffPackages, Profile, type GenerationDiff, type GenerationInfo } from '../profile/index.js';
import type { App } from './app.js';
import { intOption, stringOption, usage } from './args.js';

async function openProfile(app: App): Promise<Profile> {
  return new Profile(await app.store(), stringOption(app.options, 'profile') ?? 'default');
}

export async function generationsCommand(
  app: App,
): Promise<{ profile: string; generations: GenerationInfo[] }> {
  const profile = await openProfile(app);
  return { profile: profile.name, generations: await profile.list() };
}

export interface SwitchResult {
  readonly profile: string;
  readonly from: number | undefined;
  readonly to: number;
  readonly diff: GenerationDiff;
}

/** Switch to generation `target(current, all)`; one symlink rename. */
async function switchWith(
  app: App,
  pick: (current: number | undefined, all: number[]) => number,
): Promise<SwitchResult> {
  const profile = await openProfile(app);
  const lock = await profile.lock();
  try {
    const from = await profile.current();
    const to = pick(from, await profile.numbers());
    const before = from === undefined ? [] : (await profile.read(from)).packages;
    const after = (await profile.read(to)).packages;
    await profile.switchTo(to);
    return { profile: profile.name, from, to, diff: diffPackages(before, after) };
  } finally {
    await lock.release();
  }
}

export function rollbackCommand(app: App): Promise<SwitchResult> {
  return switchWith(app, (current, all) => {
    const older = all.filter((n) => current === undefined || n < current);
    const prev = older[older.length - 1];
    if (prev === undefined)
      throw new AppError('E_PROFILE_GENERATION', `profile has no generation before ${current ?? 'none'}`, {
        hint: 'nothing to roll back to; see ferry generations',
      });
    return prev;
  });
}

export function switchCommand(app: App): Promise<SwitchResult> {
  const to = intOption(app.options, 'to', -1);
  if (to < 0) throw usage('switch needs --to N (a generation number; see ferry generations)');
  return switchToGeneration(app, to);
}

/** Switch the profile to generation `to`; one symlink rename. */
export function switchToGeneration(app: App, to: number): Promise<SwitchResult> {
  return switchWith(app, () => to);
}

export async function diffCommand(app: App, args: readonly string[]) {
  const profile = await openProfile(app);
  const current = await profile.current();
  const nums = args.map((a) => {
    const n = Number.parseInt(a, 10);
    if (!Number.isInteger(n) || String(n) !== a) throw usage(`"${a}" is not a generation number`);
    return n;
  });
  const all = await profile.numbers();
  const b = nums[1] ?? (nums.length === 1 ? current : current);
  const a = nums.length >= 1 ? nums[0] : all.filter((n) => current !== undefined && n < current).pop();
  if (a === undefined || b === undefined)
    throw new AppError('E_PROFILE_GENERATION', `profile ${profile.name} needs two generations to compare`, {
      hint: 'name them: ferry diff A B',
    });
  const diff = diffPackages((await profile.read(a)).packages, (await profile.read(b)).packages);
  return { profile: profile.name, from: a, to: b, diff };
}

/** Run a command with a generation's bin/ first on PATH, without switching to it. */
export async function runCommand(app: App, rest: readonly string[]): Promise<number> {
  const profile = await openProfile(app);
  const n = intOption(app.options, 'generation', -1);
  const gen = n >= 0 ? n : await profile.current();
  if (gen === undefined)
    throw new AppError('E_PROFILE_GENERATION', `profile ${profile.name} has no generations yet`);
  await profile.read(gen);
  const cmd = rest[0];
  if (cmd === undefined) throw usage('give the command after --, e.g. ferry run -- hello');
  const dir = join(profile.gensDir, String(gen));
  const env = {
    ...process.env,
    PATH: `${dir}/bin:${dir}/sbin:${process.env.PATH ?? ''}`,
    FERRY_GENERATION: dir,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest.slice(1), { stdio: 'inherit', env });
    child.on('error', (e) => {
      reject(
        new AppError('E_RUN_FAILED', `cannot run ${cmd} in generation ${gen}: ${e.message}`, {
          hint: `is ${cmd} in ${dir}/bin?`,
        }),
      );
    });
    child.on('close', (code, signal) => {
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}
