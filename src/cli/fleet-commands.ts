import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '../core/index.js';
import {
  deploy,
  describeAddress,
  formatSize,
  planHost,
  probeHosts,
  rollbackHosts,
  selectHosts,
  sshSettings,
  type FleetContext,
  type FleetHost,
  type HostOutcome,
  type HostPlan,
  type HostState,
  type ProfileTarget,
} from '../fleet/index.js';
import { formatEndpoint, readTextIfExists, scanHostKeys, writeFileAtomic } from '../platform/index.js';
import { formatDepSpec } from '../recipe/index.js';
import type { StoreId } from '../store/index.js';
import type { App } from './app.js';
import { intOption, listOption, MANIFEST_OPTION, stringOption, usage } from './args.js';
import { advisoryComparer, type AdvisoryChanges } from './audit-commands.js';
import { renderDiff, type CommandSpec, type Outcome } from './commands.js';
import { buildResolved, packagesOf, summarise } from './install.js';
import { confirm } from './project-commands.js';
import { findManifestFile, manifestProfile, openProject, resolveProfile, type Project } from './project.js';

const MANIFEST_OPT = MANIFEST_OPTION;
const PARALLEL_OPT = {
  name: 'parallel',
  value: 'N',
  help: 'hosts worked on at once, one SSH connection each (default 8)',
};

function project(app: App): Project {
  return openProject(app, findManifestFile(app, true) ?? '');
}

function fleetContext(app: App, p: Project): Promise<FleetContext> {
  return p.app.store().then((store) => ({
    store,
    settings: p.manifest.fleet,
    reporter: app.ctx.reporter,
    parallel: Math.max(1, intOption(app.options, 'parallel', 8)),
  }));
}

/** `--hosts a,b --hosts web`: host and group names. */
export function hostSelection(app: App): string[] {
  return listOption(app.options, 'hosts')
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function chosenHosts(p: Project, names: readonly string[]): FleetHost[] {
  if (p.manifest.hosts.length === 0)
    throw new AppError('E_FLEET_HOST_UNKNOWN', `${p.manifest.file} lists no hosts`, {
      hint: 'add one: [hosts.web1] ssh = "app@10.0.0.11" root = "/home/app/ferry" profiles = ["web"]',
    });
  return selectHosts(p.manifest.hosts, names);
}

/** What each profile the hosts carry should be; built (or substituted) here first when `build` is set. */
async function fleetTargets(
  p: Project,
  hosts: readonly FleetHost[],
  build: boolean,
): Promise<Map<string, ProfileTarget>> {
  const out = new Map<string, ProfileTarget>();
  for (const name of [...new Set(hosts.flatMap((h) => h.profiles))]) {
    const resolved = await resolveProfile(p, name);
    let ids = resolved.ids;
    if (build) {
      const { report, store, substituted } = await buildResolved(p.app, resolved.plan);
      const summary = summarise(resolved.plan, report, store.storeDir, substituted);
      const f = summary.failures[0];
      if (f !== undefined)
        throw new AppError('E_BUILD_FAILED', `profile ${name}: ${f.key}: ${f.message}`, {
          hint: f.hint ?? 'fix the build; no host was touched',
        });
      ids = report.ids;
    }
    const packages = packagesOf(resolved.plan, ids);
    out.set(name, {
      profile: name,
      requests: manifestProfile(p, name).packages.map(formatDepSpec),
      packages,
      closure: packages.map((x) => x.storeId),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// ferry deploy

async function deployCommand(app: App, args: readonly string[]): Promise<Outcome> {
  const p = project(app);
  const hosts = chosenHosts(p, args);
  const fc = await fleetContext(app, p);
  // Resolving and checking the build is synchronous work: let deploy start the logins to hosts first.
  const building = new Promise((resolve) => setImmediate(resolve)).then(() => fleetTargets(p, hosts, true));
  let refused: HostPlan[] = [];
  const outcomes = await deploy(fc, hosts, building, {
    canary: intOption(app.options, 'canary', 0),
    batch: intOption(app.options, 'batch', 0),
    confirm: async (plans) => {
      const removing = plans.filter((h) => removedNames(h).length > 0);
      if (removing.length === 0 || app.options.yes === true) return true;
      const list = removing.map((h) => `${h.host}: ${removedNames(h).join(', ')}`).join('; ');
      if (await confirm(`The deploy REMOVES packages (${list}). Continue?`)) return true;
      refused = removing;
      return false;
    },
  });
  if (refused.length > 0)
    throw new AppError(
      'E_PLAN_REMOVES',
      `the deploy would remove packages: ${refused.map((h) => `${h.host}: ${removedNames(h).join(', ')}`).join('; ')}`,
      {
        hint: 'see them with ferry plan --hosts …; run again with --yes to go ahead',
      },
    );
  return {
    data: { hosts: outcomes.map(stripPlan) },
    text: renderOutcomes(outcomes),
    exitCode: exitFor(outcomes),
  };
}

function targetPackages(host: FleetHost, targets: ReadonlyMap<string, ProfileTarget>) {
  return host.profiles.flatMap((p) => targets.get(p)?.packages ?? []);
}

function advisoryLines(a: AdvisoryChanges | undefined): string[] {
  if (a === undefined) return [];
  return [
    ...a.introduced.map((f) => `  advisory introduced: ${f.id} (${f.severity}) in ${f.name} ${f.version}`),
    ...a.fixed.map((f) => `  advisory fixed: ${f.id} in ${f.name} ${f.version}`),
  ];
}

/** What switching a host removes, per profile; a current generation that cannot be read removes unknowns. */
function removedNames(h: HostPlan): string[] {
  return h.steps
    .filter((s) => s.to !== undefined)
    .flatMap((s) =>
      s.unreadable === true
        ? [`whatever generation ${s.from ?? '?'} of ${s.profile} has (its manifest cannot be read)`]
        : s.diff.removed.map((r) => `${r.name} (${s.profile})`),
    );
}

/** The outcome without its plan (which --json shows through steps already). */
function stripPlan(o: HostOutcome): Omit<HostOutcome, 'plan'> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'plan')) as Omit<HostOutcome, 'plan'>;
}

function exitFor(outcomes: readonly HostOutcome[]): number {
  const bad = outcomes.filter((o) => o.error !== undefined).length;
  return bad === 0 ? 0 : bad === outcomes.length ? 1 : 3;
}

function renderOutcomes(outcomes: readonly HostOutcome[]): string[] {
  const rows = outcomes.map((o) => [
    o.host,
    o.result,
    o.steps
      .map(
        (s) =>
          `${s.profile} ${s.from ?? '-'} → ${s.to ?? s.from ?? '-'}${o.result === 'rolled-back' ? ` → ${s.from ?? '-'}` : ''}`,
      )
      .join(', ') || '-',
    formatSize(o.bytesSent),
    `${(o.ms / 1000).toFixed(1)}s`,
  ]);
  const lines = table(['HOST', 'RESULT', 'GENERATION', 'SENT', 'TIME'], rows);
  for (const o of outcomes)
    if (o.error !== undefined)
      lines.push(
        `${o.host}: [${o.error.code}] ${o.error.message}${o.error.hint === undefined ? '' : `\n  hint: ${o.error.hint}`}`,
      );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------
// ferry rollback --hosts, ferry status, ferry plan --hosts

export async function rollbackHostsCommand(app: App): Promise<Outcome> {
  const p = project(app);
  const outcomes = await rollbackHosts(await fleetContext(app, p), chosenHosts(p, hostSelection(app)));
  return {
    data: { hosts: outcomes.map(stripPlan) },
    text: renderOutcomes(outcomes),
    exitCode: exitFor(outcomes),
  };
}

async function statusCommand(app: App, args: readonly string[]): Promise<Outcome> {
  const p = project(app);
  const hosts = chosenHosts(p, args);
  const targets = await fleetTargets(p, hosts, false);
  const statuses = await probeHosts(await fleetContext(app, p), hosts);
  const data = hosts.map((host, i) => {
    const s = statuses[i];
    const state = s?.state;
    return {
      host: host.name,
      address: describeAddress(host),
      reachable: s?.reachable ?? false,
      ...(s?.error === undefined ? {} : { error: s.error }),
      ...(state === undefined
        ? {}
        : {
            platform: { os: state.os, arch: state.arch, glibc: state.glibc ?? null },
            profiles: profileStatus(host, state, targets),
          }),
    };
  });
  const text: string[] = [];
  for (const h of data) {
    if (h.platform === undefined) {
      text.push(
        `${h.host} (${h.address}): ${h.reachable ? 'error' : 'unreachable'}: ${h.error?.message ?? ''}`,
      );
      continue;
    }
    text.push(
      `${h.host} (${h.address}): ${h.platform.os}/${h.platform.arch}, glibc ${h.platform.glibc ?? 'none'}`,
    );
    for (const pr of h.profiles ?? [])
      text.push(
        `  ${pr.profile}: ${pr.generation === null ? 'no generation' : `generation ${pr.generation}, ${pr.packages.length} package(s)`}${pr.behind ? ' — BEHIND the lock' : ', up to date'}`,
      );
  }
  const down = data.filter((h) => h.platform === undefined).length;
  return { data: { hosts: data }, text, exitCode: down === 0 ? 0 : down === data.length ? 1 : 3 };
}

function profileStatus(host: FleetHost, state: HostState, targets: ReadonlyMap<string, ProfileTarget>) {
  return host.profiles.map((profile) => {
    const p = state.profiles.get(profile);
    const m = p?.manifest;
    const want = targets.get(profile)?.closure ?? [];
    const have = new Set(m?.packages.map((x) => x.storeId) ?? []);
    return {
      profile,
      generation: p?.current ?? null,
      packages: (m?.packages ?? []).map((x) => `${x.name} ${x.version}`),
      behind: want.length !== have.size || want.some((id) => !have.has(id)),
    };
  });
}

export async function fleetPlanCommand(app: App): Promise<Outcome> {
  const p = project(app);
  const hosts = chosenHosts(p, hostSelection(app));
  const targets = await fleetTargets(p, hosts, false);
  const fc = await fleetContext(app, p);
  const union = [...new Set([...targets.values()].flatMap((t) => t.closure))];
  const toBuild: string[] = [];
  for (const id of union) if (!(await fc.store.has(id))) toBuild.push(id);
  const statuses = await probeHosts(fc, hosts);
  const compare = await advisoryComparer(app);
  type Row =
    | { host: string; error: { code: string; message: string } | undefined }
    | {
        host: string;
        receives: readonly StoreId[];
        bytes: number;
        steps: HostPlan['steps'];
        advisories?: AdvisoryChanges;
      };
  const perHost: Row[] = [];
  for (const [i, host] of hosts.entries()) {
    const s = statuses[i];
    if (s?.state === undefined) {
      perHost.push({ host: host.name, error: s?.error });
      continue;
    }
    const plan = planHost(host, s.state, targets);
    let bytes = 0;
    for (const id of plan.missing)
      if (await fc.store.has(id))
        bytes += Object.values((await fc.store.readMeta(id)).files).reduce(
          (n, f) => n + (f.type === 'file' ? f.size : 0),
          0,
        );
    const advisories = compare?.(plan.before, targetPackages(host, targets));
    perHost.push({
      host: host.name,
      receives: plan.missing,
      bytes,
      steps: plan.steps,
      ...(advisories === undefined ? {} : { advisories }),
    });
  }
  const text = [
    `${union.length} store path(s) for ${hosts.length} host(s); ${toBuild.length} to build or substitute here first`,
  ];
  for (const h of perHost) {
    if (!('steps' in h)) {
      text.push(`${h.host}: cannot plan: ${h.error?.message ?? 'unknown error'}`);
      continue;
    }
    text.push(
      `${h.host}: receives ${h.receives.length} store path(s)${h.bytes > 0 ? ` (${formatSize(h.bytes)} before compression)` : ''}`,
    );
    for (const s of h.steps) {
      text.push(
        `  ${s.profile}: ${s.to === undefined ? `unchanged (generation ${s.from ?? '-'})` : `generation ${s.from ?? '-'} → ${s.to}`}`,
      );
      if (s.to === undefined) continue;
      if (s.unreadable === true)
        text.push(
          `    REMOVES: unknown (generation ${s.from ?? '?'}'s manifest cannot be read; the list below is against nothing)`,
        );
      text.push(...renderDiff(s.diff).map((l) => `  ${l}`));
    }
    text.push(...advisoryLines(h.advisories));
  }
  const exitCode = perHost.some((h) => !('steps' in h)) ? 3 : 0;
  return { data: { storePaths: union.length, toBuild, hosts: perHost }, text, exitCode };
}

/**
 * For `ferry audit --hosts`: every package in the current generations of the hosts' profiles, with where it
 * is (`HOST:PROFILE`); hosts that cannot be asked are listed, not fatal.
 */
export async function hostPackages(app: App) {
  const p = project(app);
  const hosts = chosenHosts(p, hostSelection(app));
  const statuses = await probeHosts(await fleetContext(app, p), hosts);
  const byKey = new Map<string, { name: string; version: string; where: string[] }>();
  const unreachable: string[] = [];
  for (const [i, host] of hosts.entries()) {
    const state = statuses[i]?.state;
    if (state === undefined) {
      unreachable.push(`${host.name} (${statuses[i]?.error?.message ?? 'no answer'})`);
      continue;
    }
    for (const profile of host.profiles)
      for (const pkg of state.profiles.get(profile)?.manifest?.packages ?? []) {
        const k = `${pkg.name}\0${pkg.version}`;
        const e = byKey.get(k) ?? { name: pkg.name, version: pkg.version, where: [] };
        e.where.push(`${host.name}:${profile}`);
        byKey.set(k, e);
      }
  }
  return { packages: [...byKey.values()], index: p.app.index(), unreachable };
}

// ---------------------------------------------------------------------------------------------------------
// ferry hosts, ferry hosts trust

function hostsListCommand(app: App): Outcome {
  const p = project(app);
  const rows = p.manifest.hosts.map((h) => [
    h.name,
    describeAddress(h),
    h.root,
    h.profiles.join(','),
    h.groups.join(',') || '-',
  ]);
  return {
    data: { hosts: p.manifest.hosts, knownHosts: p.manifest.fleet.knownHosts },
    text:
      rows.length === 0
        ? ['no hosts in ferry.toml']
        : table(['HOST', 'ADDRESS', 'ROOT', 'PROFILES', 'GROUPS'], rows),
    exitCode: 0,
  };
}

async function hostsTrustCommand(app: App, args: readonly string[]): Promise<Outcome> {
  const name = args[0];
  if (name === undefined || args.length > 1) throw usage('ferry hosts trust HOST [--fingerprint SHA256:…]');
  const p = project(app);
  const host = selectHosts(p.manifest.hosts, [name]).find((h) => h.name === name);
  if (host?.address.kind !== 'ssh')
    throw new AppError('E_FLEET_HOST_UNKNOWN', `no ssh host named "${name}" in ${p.manifest.file}`, {
      hint: 'ferry hosts lists them',
    });
  const keys = await scanHostKeys(host.address, sshSettings(p.manifest.fleet));
  const offered = keys.map((k) => `${k.type} ${k.fingerprint}`);
  const given = stringOption(app.options, 'fingerprint');
  const chosen = given === undefined ? keys : keys.filter((k) => k.fingerprint === given);
  if (given !== undefined && chosen.length === 0)
    throw new AppError(
      'E_FLEET_HOSTKEY',
      `${name} (${formatEndpoint(host.address)}) does not offer ${given}; it offers ${offered.join(', ')}`,
      {
        hint: 'the key differs from the one you expected: do not trust it until you know why',
      },
    );
  if (given === undefined) {
    app.ctx.reporter.info(
      `${name} (${formatEndpoint(host.address)}) offers:\n${offered.map((o) => `  ${o}`).join('\n')}`,
    );
    if (
      !(await confirm(
        `Compare with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there). Trust ${name}?`,
      ))
    )
      throw new AppError('E_FLEET_HOSTKEY', `${name}'s key was not trusted`, {
        hint: `after checking it on the host, run: ferry hosts trust ${name} --fingerprint ${keys[0]?.fingerprint ?? 'SHA256:…'}`,
      });
  }
  const file = p.manifest.fleet.knownHosts;
  const hostField = (chosen[0]?.line ?? '').split(' ')[0] ?? '';
  const old = ((await readTextIfExists(file)) ?? '').split('\n').filter((l) => l.trim() !== '');
  const kept = old.filter((l) => l.split(' ')[0] !== hostField);
  await fs.mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, [...kept, ...chosen.map((k) => k.line)].map((l) => `${l}\n`).join(''));
  return {
    data: {
      host: name,
      knownHosts: file,
      trusted: chosen.map((k) => ({ type: k.type, fingerprint: k.fingerprint })),
      replaced: old.length - kept.length,
    },
    text: [
      `trusted ${name}: ${chosen.map((k) => `${k.type} ${k.fingerprint}`).join(', ')}`,
      `recorded in ${file}${old.length > kept.length ? ' (replacing its earlier key)' : ''}`,
    ],
    exitCode: 0,
  };
}

// ---------------------------------------------------------------------------------------------------------

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export const FLEET_COMMANDS: readonly CommandSpec[] = [
  {
    words: ['deploy'],
    usage: 'ferry deploy [HOST|GROUP…] [--canary N] [--batch N] [--parallel N] [--yes]',
    summary: 'build once, copy to hosts what they lack, switch them atomically, check, roll back on failure',
    description:
      "Builds (or substitutes) every profile the hosts carry, as ferry.lock pins it. Then for each host: checks its platform (arch, glibc) against every package before copying, copies only the store paths it lacks (an interrupted copy resumes), and stages the new generation. Then switches: --canary N hosts first, then --batch N at a time (default: all). After each switch the host's `check` runs; a failure switches that host back and halts the rollout. No HOST means every host. Exit status 3 when some hosts failed.",
    options: [
      MANIFEST_OPT,
      PARALLEL_OPT,
      { name: 'canary', value: 'N', help: 'switch N hosts first; go on only if their checks pass' },
      { name: 'batch', value: 'N', help: 'then switch N hosts at a time (default: all at once)' },
      { name: 'yes', short: 'y', help: 'go ahead even when packages would be REMOVED from a host' },
      { name: 'jobs', short: 'j', value: 'N', help: 'independent builds at once (default: cores)' },
      { name: 'no-substitute', help: 'build everything here' },
      { name: 'offline', help: 'do not download sources' },
    ],
    run: deployCommand,
  },
  {
    words: ['status'],
    usage: 'ferry status [HOST|GROUP…] [--parallel N]',
    summary: 'each host: reachable, platform, current generation per profile, behind the lock or not',
    description: 'Asks every host in parallel; changes nothing. No HOST means every host in ferry.toml.',
    options: [MANIFEST_OPT, PARALLEL_OPT],
    run: statusCommand,
  },
  {
    words: ['hosts'],
    usage: 'ferry hosts',
    summary: "list ferry.toml's hosts: address, root, profiles, groups",
    description: 'See also: ferry hosts trust HOST, ferry status.',
    options: [MANIFEST_OPT],
    run: (app) => Promise.resolve(hostsListCommand(app)),
  },
  {
    words: ['hosts', 'trust'],
    usage: 'ferry hosts trust HOST [--fingerprint SHA256:…]',
    summary: "show a host's SSH key fingerprints and record them once you confirm",
    description:
      'ferry never accepts an SSH host key by itself. This asks the host for its keys, shows their fingerprints, and after you confirm (or with --fingerprint naming the one you checked on the host) records them in the known-hosts file of the project ([fleet] known-hosts, default ferry.known_hosts next to ferry.toml).',
    options: [
      MANIFEST_OPT,
      {
        name: 'fingerprint',
        value: 'SHA256:…',
        help: 'trust only the key with this fingerprint, without asking',
      },
    ],
    run: hostsTrustCommand,
  },
];
