/**
 * What each host had after the last deploy from this root: only a guess, used to start packing the store paths
 * a host will likely lack while its login and probe are still under way (they cost about as long as packing
 * a few megabytes). The probe still decides what is sent; a stale or missing hint only costs packing time.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreId } from '../store/index.js';
import type { Codec } from './compress.js';

export interface HostHint {
  /** The host's ferry root when it was written: a hint for another root says nothing. */
  readonly root: string;
  readonly codec: Codec;
  readonly storeIds: readonly StoreId[];
}

const hintFile = (rootDir: string, host: string) =>
  join(rootDir, 'var', 'fleet-hosts', `${encodeURIComponent(host)}.json`);

/** The hint for `host` at `hostRoot`, or undefined (none, unreadable, or for another root). */
export async function readHint(
  rootDir: string,
  host: string,
  hostRoot: string,
): Promise<HostHint | undefined> {
  try {
    const h = JSON.parse(await fs.readFile(hintFile(rootDir, host), 'utf8')) as Partial<HostHint>;
    const ok =
      h.root === hostRoot &&
      (h.codec === 'zstd' || h.codec === 'gzip') &&
      Array.isArray(h.storeIds) &&
      h.storeIds.every((id) => typeof id === 'string');
    return ok ? (h as HostHint) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Remembers what `host` has now. Renamed into place but not fsynced: after a crash the old hint or none is
 * read, which only costs speed.
 */
export async function writeHint(rootDir: string, host: string, hint: HostHint): Promise<void> {
  const file = hintFile(rootDir, host);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.mkdir(join(rootDir, 'var', 'fleet-hosts'), { recursive: true });
    await fs.writeFile(tmp, `${JSON.stringify(hint)}\n`);
    await fs.rename(tmp, file);
  } catch {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** The paths of `closure` the hint says the host lacks. */
export function likelyMissing(closure: readonly StoreId[], hint: HostHint): StoreId[] {
  const has = new Set(hint.storeIds);
  return closure.filter((id) => !has.has(id));
}
