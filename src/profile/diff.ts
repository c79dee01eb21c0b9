import { compareVersions } from '../version/index.js';
import type { GenerationPackage } from './profile.js';

export interface PackageChange {
  readonly name: string;
  readonly slot: string;
  readonly from?: string;
  readonly to?: string;
}

export interface GenerationDiff {
  readonly added: readonly PackageChange[];
  readonly removed: readonly PackageChange[];
  readonly upgraded: readonly PackageChange[];
  readonly downgraded: readonly PackageChange[];
  /** Same version, different store path: an option or a dependency changed. */
  readonly rebuilt: readonly PackageChange[];
}

/** What changes between two package sets, keyed by name:slot. Pure. */
export function diffPackages(
  a: readonly GenerationPackage[],
  b: readonly GenerationPackage[],
): GenerationDiff {
  const key = (p: GenerationPackage) => `${p.name}:${p.slot}`;
  const before = new Map(a.map((p) => [key(p), p]));
  const after = new Map(b.map((p) => [key(p), p]));
  const d = { added: [], removed: [], upgraded: [], downgraded: [], rebuilt: [] } as {
    -readonly [K in keyof GenerationDiff]: PackageChange[];
  };
  for (const [k, p] of after) {
    const old = before.get(k);
    if (old === undefined) d.added.push({ name: p.name, slot: p.slot, to: p.version });
    else if (old.storeId === p.storeId) continue;
    else {
      const c = compareVersions(p.version, old.version);
      const change = { name: p.name, slot: p.slot, from: old.version, to: p.version };
      (c > 0 ? d.upgraded : c < 0 ? d.downgraded : d.rebuilt).push(change);
    }
  }
  for (const [k, p] of before)
    if (!after.has(k)) d.removed.push({ name: p.name, slot: p.slot, from: p.version });
  // Names are ASCII: code-unit order is the same everywhere, and needs no ICU collator (its first use costs
  // ~12 ms, on a deploy's way to its first host).
  for (const list of Object.values(d)) list.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return d;
}
