import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../core/index.js';
import { walkTree } from '../platform/index.js';
import type { FileRecord } from './meta.js';

/** Records of every entry under `dir`: what `ferry verify` later compares against. */
export async function hashTree(dir: string): Promise<Record<string, FileRecord>> {
  const out: Record<string, FileRecord> = {};
  for (const e of await walkTree(dir)) out[e.rel] = await recordOf(join(dir, e.rel), e.kind, e.mode, e.size);
  return out;
}

export async function recordOf(path: string, kind: 'file' | 'dir' | 'symlink', mode: number, size: number) {
  if (kind === 'dir') return { type: 'dir' } as const;
  if (kind === 'symlink') return { type: 'symlink', target: await fs.readlink(path) } as const;
  return { type: 'file', sha256: await sha256File(path), size, executable: (mode & 0o111) !== 0 } as const;
}

/** Paths of regular files under `dir` whose bytes contain `needle`. */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const want = Buffer.from(needle);
  const out: string[] = [];
  for (const e of await walkTree(dir)) {
    if (e.kind !== 'file') continue;
    const bytes = await fs.readFile(join(dir, e.rel));
    if (bytes.includes(want)) out.push(e.rel);
  }
  return out;
}
