import { AppError } from '../core/index.js';
import { glibcAtMost } from '../pkg/index.js';
import { diffPackages, type GenerationDiff, type GenerationPackage } from '../profile/index.js';
import type { StoreId, StoreMeta } from '../store/index.js';
import type { FleetHost, HostState, ProfileTarget } from './types.js';

/** What one profile on one host goes through. */
export interface ProfileStep {
  readonly profile: string;
  readonly from: number | undefined;
  /** The generation it will get (undefined when nothing changes). */
  readonly to: number | undefined;
  readonly diff: GenerationDiff;
  /**
   * The host has a current generation whose manifest could not be read (damaged, or another ferry's): what the
   * switch removes is unknown, so it is asked about like a removal.
   */
  readonly unreadable?: true;
}

export interface HostPlan {
  readonly host: string;
  /** Store paths the host lacks, in closure order. */
  readonly missing: readonly StoreId[];
  readonly steps: readonly ProfileStep[];
  /** The packages of the host's current generations, for comparisons (advisories). */
  readonly before: readonly GenerationPackage[];
}

/** Pure: the host's state and the targets → what to send and which generations to make. */
export function planHost(
  host: FleetHost,
  state: HostState,
  targets: ReadonlyMap<string, ProfileTarget>,
): HostPlan {
  const missing = new Set<StoreId>();
  const steps: ProfileStep[] = [];
  const beforeAll: GenerationPackage[] = [];
  for (const name of host.profiles) {
    const target = targets.get(name);
    if (target === undefined) throw new Error(`Assertion failed: no target for profile ${name}`);
    for (const id of target.closure) if (!state.storeIds.has(id)) missing.add(id);
    const cur = state.profiles.get(name);
    const before = cur?.manifest;
    beforeAll.push(...(before?.packages ?? []));
    const same =
      before !== undefined &&
      sameSet(before.packages, target.packages) &&
      before.requests.join('\n') === target.requests.join('\n');
    const next = (cur?.generations ?? []).reduce((a, b) => Math.max(a, b), 0) + 1;
    steps.push({
      profile: name,
      from: cur?.current,
      to: same ? undefined : next,
      diff: diffPackages(before?.packages ?? [], target.packages),
      ...(cur?.current !== undefined && before === undefined ? { unreadable: true as const } : {}),
    });
  }
  return { host: host.name, missing: [...missing], steps, before: beforeAll };
}

function sameSet(a: readonly GenerationPackage[], b: readonly GenerationPackage[]): boolean {
  const key = (p: GenerationPackage) => `${p.storeId}:${String(p.requested)}`;
  return a.map(key).sort().join(',') === b.map(key).sort().join(',');
}

/**
 * A binary for another arch or a newer glibc fails on the host at run time, far from the cause: refuse the
 * host before anything is copied, naming the package, what it needs and what the host has.
 */
export function checkHostPlatform(host: string, state: HostState, metas: readonly StoreMeta[]): void {
  for (const m of metas) {
    const what = `${m.name} ${m.version} (${m.id})`;
    if (m.platform.os !== state.os || m.platform.arch !== state.arch)
      throw new AppError(
        'E_FLEET_PLATFORM',
        `${host}: ${what} is built for ${m.platform.os}/${m.platform.arch}; ${host} is ${state.os}/${state.arch}`,
        { hint: `build on a ${state.os}/${state.arch} machine and deploy from there` },
      );
    const need = m.platform.minGlibc;
    if (need !== undefined && state.glibc === undefined)
      throw new AppError(
        'E_FLEET_PLATFORM',
        `${host}: ${what} needs glibc ${need}; ${host} reports no glibc (musl, or neither getconf nor ldd answered)`,
        {
          hint: `build it for that host's C library, or check that getconf GNU_LIBC_VERSION works there; nothing was copied to ${host}`,
        },
      );
    if (need !== undefined && state.glibc !== undefined && !glibcAtMost(need, state.glibc))
      throw new AppError(
        'E_FLEET_PLATFORM',
        `${host}: ${what} needs glibc ${need}; ${host} has glibc ${state.glibc} (it would fail there with "version 'GLIBC_${need}' not found")`,
        {
          hint: `build on a machine whose glibc is ${state.glibc} or older, and deploy from there; nothing was copied to ${host}`,
        },
      );
  }
}

/** Hosts named on the command line, by host name or group, in inventory order; none named means all. */
export function selectHosts(all: readonly FleetHost[], names: readonly string[]): FleetHost[] {
  if (names.length === 0 || names.includes('all')) return [...all];
  const unknown = names.filter((n) => !all.some((h) => h.name === n || h.groups.includes(n)));
  if (unknown.length > 0)
    throw new AppError(
      'E_FLEET_HOST_UNKNOWN',
      `no host or group named ${unknown.map((n) => JSON.stringify(n)).join(', ')} in ferry.toml`,
      {
        hint:
          all.length === 0
            ? 'add hosts as [hosts.NAME] tables to ferry.toml'
            : `hosts: ${all.map((h) => h.name).join(', ')}; groups: ${[...new Set(all.flatMap((h) => h.groups))].join(', ') || '(none)'}`,
      },
    );
  return all.filter((h) => names.includes(h.name) || h.groups.some((g) => names.includes(g)));
}

/** Rollout order: canaries first, then batches; each inner list switches at once. */
export function rolloutWaves<T>(hosts: readonly T[], canary: number, batch: number): T[][] {
  const waves: T[][] = [];
  let rest = [...hosts];
  if (canary > 0 && rest.length > 0) {
    waves.push(rest.slice(0, canary));
    rest = rest.slice(canary);
  }
  const size = batch > 0 ? batch : rest.length;
  for (let i = 0; i < rest.length; i += size) waves.push(rest.slice(i, i + size));
  return waves;
}
