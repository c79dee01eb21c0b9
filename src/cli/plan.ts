import { AppError } from '../core/index.js';
import { formatDepSpec } from '../recipe/index.js';
import { Profile, type GenerationPackage } from '../profile/index.js';
import { packageKey, type PackageKey, type Plan } from '../resolve/index.js';
import { compareVersions } from '../version/index.js';
import type { Store, StoreId } from '../store/index.js';
import { closureKeys, type ResolvedProfile } from './project.js';

export interface PlanEntry {
  readonly name: string;
  readonly slot: string;
  readonly from?: string;
  readonly to?: string;
  readonly reason: string;
}

export interface ProfilePlan {
  readonly profile: string;
  readonly generation: number | undefined;
  readonly fromLock: boolean;
  readonly added: readonly PlanEntry[];
  readonly upgraded: readonly PlanEntry[];
  readonly downgraded: readonly PlanEntry[];
  readonly rebuilt: readonly PlanEntry[];
  readonly removed: readonly PlanEntry[];
  readonly unchanged: number;
  /** Store paths the switch must build first. */
  readonly toBuild: number;
  /** Known advisories the switch introduces or fixes (when advisories are at hand). */
  readonly advisories?: {
    readonly introduced: readonly { name: string; version: string; id: string; severity: string }[];
    readonly fixed: readonly { name: string; version: string; id: string; severity: string }[];
  };
}

/** What switching ferry profile `name` to the resolved manifest profile would do, with a reason per change. */
export async function planSwitch(
  store: Store,
  name: string,
  resolved: ResolvedProfile,
): Promise<ProfilePlan> {
  const profile = new Profile(store, name);
  const current = await profile.currentManifest();
  const old = new Map((current?.packages ?? []).map((p) => [packageKey(p.name, p.slot), p]));
  const { plan, ids } = resolved;
  const keys = closureKeys(plan);
  const groups = {
    added: [] as PlanEntry[],
    upgraded: [] as PlanEntry[],
    downgraded: [] as PlanEntry[],
    rebuilt: [] as PlanEntry[],
  };
  let unchanged = 0;
  let toBuild = 0;
  for (const key of keys) {
    const node = plan.nodes.get(key);
    const id = ids.get(key);
    if (node === undefined || id === undefined) continue;
    if (!(await store.has(id as StoreId))) toBuild++;
    const r = node.recipe;
    const before = old.get(key);
    const base = { name: r.name, slot: r.slot, to: r.version };
    if (before === undefined) groups.added.push({ ...base, reason: neededBy(plan, key) });
    else if (before.storeId === id) unchanged++;
    else {
      const c = compareVersions(r.version, before.version);
      const entry = { ...base, from: before.version };
      if (c > 0) groups.upgraded.push({ ...entry, reason: neededBy(plan, key) });
      else if (c < 0) groups.downgraded.push({ ...entry, reason: neededBy(plan, key) });
      else groups.rebuilt.push({ ...entry, reason: await whyRebuilt(store, before, plan, key, ids, old) });
    }
  }
  const removed: PlanEntry[] = [];
  for (const [key, p] of old)
    if (!keys.includes(key))
      removed.push({
        name: p.name,
        slot: p.slot,
        from: p.version,
        reason: p.requested ? 'no longer requested by the manifest' : 'nothing needs it any more',
      });
  return {
    profile: name,
    generation: current?.number,
    fromLock: resolved.fromLock,
    ...groups,
    removed,
    unchanged,
    toBuild,
  };
}

function neededBy(plan: Plan, key: PackageKey): string {
  if (plan.roots.includes(key)) {
    const spec = plan.nodes.get(key)?.recipe.name ?? key;
    return `requested (${spec})`;
  }
  const parents = [...plan.nodes.values()].filter(
    (n) => n.runDeps.includes(key) || n.buildDeps.includes(key),
  );
  return `needed by ${parents
    .map((n) => n.recipe.name)
    .sort()
    .join(', ')}`;
}

/** Same version, new store path: say which option or dependency changed, or that the recipe did. */
async function whyRebuilt(
  store: Store,
  before: GenerationPackage,
  plan: Plan,
  key: PackageKey,
  ids: ReadonlyMap<PackageKey, string>,
  old: ReadonlyMap<PackageKey, GenerationPackage>,
): Promise<string> {
  const node = plan.nodes.get(key);
  if (node === undefined) return 'inputs changed';
  const reasons: string[] = [];
  const opts = Object.entries(node.options)
    .filter(([k, on]) => (before.options[k] ?? false) !== on)
    .map(([k, on]) => `${on ? '+' : '-'}${k}`);
  if (opts.length > 0) reasons.push(`options ${opts.join(' ')}`);
  for (const dep of [...node.runDeps, ...node.buildDeps]) {
    const prev = old.get(dep);
    const next = plan.nodes.get(dep);
    if (prev !== undefined && next !== undefined && prev.storeId !== ids.get(dep))
      reasons.push(
        `dependency ${next.recipe.name} changed${prev.version === next.recipe.version ? '' : ` (${prev.version} → ${next.recipe.version})`}`,
      );
  }
  if (reasons.length === 0) {
    const meta = await store.readMeta(before.storeId).catch(() => undefined);
    reasons.push(
      meta !== undefined && meta.recipeHash !== node.recipe.recipeHash
        ? 'recipe changed'
        : 'build inputs changed',
    );
  }
  return reasons.join('; ');
}

export function renderPlan(p: ProfilePlan): string[] {
  const lines = [
    `profile ${p.profile}: generation ${p.generation ?? 'none'} → new generation${p.fromLock ? ' (from ferry.lock)' : ' (resolved now: no matching ferry.lock)'}`,
  ];
  const group = (title: string, entries: readonly PlanEntry[], fmt: (e: PlanEntry) => string) => {
    if (entries.length === 0) return;
    lines.push(`${title} (${entries.length}):`);
    for (const e of entries) lines.push(`  ${fmt(e)}`);
  };
  group('added', p.added, (e) => `+ ${e.name} ${e.to ?? ''}   ${e.reason}`);
  group('upgraded', p.upgraded, (e) => `↑ ${e.name} ${e.from ?? ''} → ${e.to ?? ''}   ${e.reason}`);
  group('downgraded', p.downgraded, (e) => `↓ ${e.name} ${e.from ?? ''} → ${e.to ?? ''}   ${e.reason}`);
  group('rebuilt', p.rebuilt, (e) => `~ ${e.name} ${e.to ?? ''}   ${e.reason}`);
  group('REMOVED', p.removed, (e) => `- ${e.name} ${e.from ?? ''}   REMOVED: ${e.reason}`);
  lines.push(
    `${p.added.length} added, ${p.upgraded.length} upgraded, ${p.downgraded.length} downgraded, ${p.rebuilt.length} rebuilt, ${p.removed.length} REMOVED, ${p.unchanged} unchanged; ${p.toBuild} to build`,
  );
  for (const f of p.advisories?.introduced ?? [])
    lines.push(`advisory introduced: ${f.id} (${f.severity}) in ${f.name} ${f.version}`);
  for (const f of p.advisories?.fixed ?? []) lines.push(`advisory fixed: ${f.id} in ${f.name} ${f.version}`);
  return lines;
}

export function removalRefused(p: ProfilePlan): AppError {
  const names = p.removed.map((e) => `${e.name} ${e.from ?? ''}`.trim()).join(', ');
  return new AppError('E_PLAN_REMOVES', `switching profile ${p.profile} would REMOVE ${names}`, {
    hint: 'read `ferry plan`, then confirm with --yes',
  });
}

export function requestStrings(plan: Plan): string[] {
  return plan.roots.map((k) => {
    const r = plan.nodes.get(k)?.recipe;
    return r === undefined
      ? k
      : formatDepSpec({ alternatives: [{ name: r.name, slot: r.slot, range: [] }], text: r.name });
  });
}
