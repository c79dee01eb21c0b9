import { createInterface } from 'node:readline/promises';
import { AppError } from '../core/index.js';
import { formatDepSpec } from '../recipe/index.js';
import { Profile } from '../profile/index.js';
import { edgeKind, whyChains } from '../resolve/index.js';
import type { App } from './app.js';
import { advisoryChanges } from './audit-commands.js';
import { stringOption, usage } from './args.js';
import { buildResolved, commitGeneration, type ChangeResult } from './install.js';
import { planSwitch, removalRefused, type ProfilePlan } from './plan.js';
import {
  findManifestFile,
  manifestProfile,
  openProject,
  resolveProfile,
  writeLock,
  type Project,
} from './project.js';

function project(app: App): Project {
  return openProject(app, findManifestFile(app, true) ?? '');
}

function profileName(app: App, p: Project): string {
  const given = stringOption(app.options, 'profile');
  if (given !== undefined) return given;
  const names = [...p.manifest.profiles.keys()];
  if (names.length === 1 && names[0] !== undefined) return names[0];
  throw usage(`name the profile with --profile (${p.manifest.file} has: ${names.join(', ')})`);
}

export async function lockCommand(app: App) {
  const p = project(app);
  return { lockFile: p.lockFile, profiles: await writeLock(p) };
}

export async function updateCommand(app: App, names: readonly string[]) {
  const p = project(app);
  return { lockFile: p.lockFile, profiles: await writeLock(p, new Set(names)) };
}

export async function planCommand(app: App): Promise<ProfilePlan> {
  const p = project(app);
  const name = profileName(app, p);
  const store = await p.app.store();
  const resolved = await resolveProfile(p, name);
  const plan = await planSwitch(store, name, resolved);
  const before = (await new Profile(store, name).currentManifest())?.packages ?? [];
  const after = [...resolved.plan.nodes.values()].map((n) => n.recipe);
  const advisories = await advisoryChanges(app, before, after);
  return advisories === undefined ? plan : { ...plan, advisories };
}

export async function whyCommand(app: App, args: readonly string[]) {
  const target = args[0];
  if (target === undefined || args.length > 1) throw usage('ferry why NAME [--profile P]');
  const p = project(app);
  const name = profileName(app, p);
  const { plan } = await resolveProfile(p, name);
  const chains = whyChains(plan, target);
  if (chains.length === 0)
    throw new AppError('E_WHY_NOT_FOUND', `profile ${name} does not contain ${target}`, {
      hint: `see what it contains: ferry plan --profile ${name}`,
    });
  const mp = manifestProfile(p, name);
  const lines = chains.map((chain) => {
    const root = chain[0] ?? '';
    const i = mp.packages.findIndex((s) => s.alternatives.some((a) => a.name === root.split(':')[0]));
    const head = `${p.manifest.file}:${mp.lines[i] ?? 1}: profile ${name} requests ${i >= 0 ? formatDepSpec(mp.packages[i] ?? { alternatives: [], text: '' }) : root}`;
    const steps = chain.slice(1).map((k, j) => {
      const from = chain[j] ?? '';
      const node = plan.nodes.get(k);
      return `${edgeKind(plan, from, k) === 'run' ? 'depends on' : 'build-depends on'} ${node?.recipe.name ?? k} ${node?.recipe.version ?? ''}`.trim();
    });
    return [
      head,
      ...steps.map(
        (s, j) => `${'  '.repeat(j + 1)}→ ${plan.nodes.get(chain[j] ?? '')?.recipe.name ?? ''} ${s}`,
      ),
    ].join('\n');
  });
  return { profile: name, target, chains, text: lines };
}

/** A yes/no question on the terminal; without one, the answer is no. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Make ferry profile P exactly the manifest's profile P (as locked): plan, confirm removals, build, switch. */
export async function applyManifestProfile(app: App): Promise<{ plan: ProfilePlan; change: ChangeResult }> {
  const p = project(app);
  const name = profileName(app, p);
  const resolved = await resolveProfile(p, name);
  const store = await p.app.store();
  const plan = await planSwitch(store, name, resolved);
  if (plan.removed.length > 0 && app.options.yes !== true) {
    if (
      !(await confirm(
        `Switching profile ${name} REMOVES ${plan.removed.map((e) => e.name).join(', ')}. Continue?`,
      ))
    )
      throw removalRefused(plan);
  }
  const profile = new Profile(store, name);
  const lock = await profile.lock();
  try {
    const before = await profile.currentManifest();
    const { report } = await buildResolved(p.app, resolved.plan);
    const requests = manifestProfile(p, name).packages.map(formatDepSpec);
    return { plan, change: await commitGeneration(profile, before, requests, resolved.plan, report) };
  } finally {
    await lock.release();
  }
}

/** `ferry build --profile P` with a manifest: build what the lock says, touch no profile. */
export async function buildManifestProfile(app: App) {
  const p = project(app);
  const { plan } = await resolveProfile(p, profileName(app, p));
  return buildResolved(p.app, plan);
}
