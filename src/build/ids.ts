import { canonicalJson, storeHash, type Sha256 } from '../core/index.js';
import { topoOrder, type PackageKey, type Plan } from '../resolve/index.js';
import type { StoreId } from '../store/index.js';

/** Bump when the way ferry builds changes in a way that changes outputs. */
const BUILDER_VERSION = 1;

export interface Platform {
  readonly os: string;
  readonly arch: string;
}

export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  return { os: process.platform, arch };
}

/**
 * Store path names for every plan node: a hash of all build inputs (recipe, sources, options, dependencies'
 * store paths, platform) plus name and version. A changed library changes every dependent's store path.
 */
export function computeStoreIds(
  plan: Plan,
  sourceHashes: ReadonlyMap<PackageKey, readonly Sha256[]>,
  platform: Platform,
): Map<PackageKey, StoreId> {
  const ids = new Map<PackageKey, StoreId>();
  for (const key of topoOrder(plan)) {
    const node = plan.nodes.get(key);
    if (node === undefined) continue;
    const r = node.recipe;
    const inputs = {
      builder: BUILDER_VERSION,
      name: r.name,
      version: r.version,
      slot: r.slot,
      recipe: r.recipeHash,
      sources: sourceHashes.get(key) ?? [],
      options: node.options,
      build: node.buildDeps.map((d) => ids.get(d)),
      run: node.runDeps.map((d) => ids.get(d)),
      platform,
    };
    ids.set(key, `${storeHash(canonicalJson(inputs))}-${r.name}-${r.version}` as StoreId);
  }
  return ids;
}
