import type { Store, StoreId } from '../store/index.js';
import { listProfiles, Profile } from './profile.js';

export interface GcResult {
  readonly generationsRemoved: readonly string[];
  readonly pathsRemoved: readonly StoreId[];
  readonly pathsKept: number;
}

/**
 * Delete old generations beyond the newest `keep` of each profile (never the current one), then every store
 * path no remaining generation needs. Generations are the GC roots.
 */
export async function collectGarbage(store: Store, keep: number, dryRun = false): Promise<GcResult> {
  const gcLock = await store.gcLock();
  try {
    return await collectLocked(store, keep, dryRun);
  } finally {
    await gcLock.release();
  }
}

async function collectLocked(store: Store, keep: number, dryRun: boolean): Promise<GcResult> {
  const generationsRemoved: string[] = [];
  const roots: StoreId[] = [];
  for (const name of await listProfiles(store.rootDir)) {
    const profile = new Profile(store, name);
    const lock = await profile.lock();
    try {
      const current = await profile.current();
      const numbers = await profile.numbers();
      const keepSet = new Set(numbers.slice(-Math.max(1, keep)));
      if (current !== undefined) keepSet.add(current);
      for (const n of numbers) {
        if (keepSet.has(n)) {
          for (const p of (await profile.read(n)).packages) roots.push(p.storeId);
          continue;
        }
        if (!dryRun) await profile.remove(n);
        generationsRemoved.push(`${name}/${n}`);
      }
    } finally {
      await lock.release();
    }
  }
  // Temporary roots may name paths still being built; only existing ones have references to follow.
  const temp = await existing(store, [...(await store.readTempRoots())]);
  const live = await store.closure([...roots, ...temp]);
  const pathsRemoved: StoreId[] = [];
  for (const id of await store.list()) {
    if (live.has(id)) continue;
    if (!dryRun) {
      const lock = await store.lock(id);
      try {
        await store.delete(id);
      } finally {
        await lock.release();
      }
    }
    pathsRemoved.push(id);
  }
  if (!dryRun) await store.cleanLeftovers();
  return { generationsRemoved, pathsRemoved, pathsKept: live.size };
}

async function existing(store: Store, ids: readonly StoreId[]): Promise<StoreId[]> {
  const out: StoreId[] = [];
  for (const id of ids) if (await store.has(id)) out.push(id);
  return out;
}
