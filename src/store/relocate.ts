import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/index.js';
import { tempSibling } from '../platform/index.js';
import { recordOf } from './hashtree.js';
import type { Store } from './store.js';
import type { StoreId, StoreMeta } from './meta.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Rewrite `from` to `to` in bytes. Text: every occurrence. Binaries: only inside NUL-terminated strings and
 * only when `to` is not longer, shifting the string's tail and padding with NULs, so no offset in the file
 * moves (the technique pkgsrc and Spack use for prefixes baked into executables).
 */
export function rewriteBytes(bytes: Buffer, from: string, to: string): Buffer | 'too-long' {
  const a = Buffer.from(from);
  const b = Buffer.from(to);
  if (!bytes.subarray(0, 4).equals(ELF_MAGIC))
    return Buffer.from(bytes.toString('latin1').split(from).join(to), 'latin1');
  if (b.length > a.length) return 'too-long';
  const out = Buffer.from(bytes);
  for (let at = out.indexOf(a); at !== -1; at = out.indexOf(a, at + b.length)) {
    const end = out.indexOf(0, at);
    const stop = end === -1 ? out.length : end;
    const tail = Buffer.from(out.subarray(at + a.length, stop));
    b.copy(out, at);
    tail.copy(out, at + b.length);
    out.fill(0, at + b.length + tail.length, stop);
  }
  return out;
}

export interface RelocateResult {
  readonly paths: number;
  readonly files: number;
}

/** Point every store path's embedded root at `newRoot`, re-recording the hashes of the files it rewrites. */
export async function relocateStore(store: Store, newRoot: string): Promise<RelocateResult> {
  let paths = 0;
  let files = 0;
  for (const id of await store.list()) {
    const meta = await store.readMeta(id);
    if (meta.embeddedRoot === newRoot) continue;
    const lock = await store.lock(id);
    try {
      files += await relocatePath(store, id, meta, newRoot);
    } finally {
      await lock.release();
    }
    paths++;
  }
  return { paths, files };
}

async function relocatePath(store: Store, id: StoreId, meta: StoreMeta, newRoot: string): Promise<number> {
  const records = { ...meta.files };
  const dir = store.pathOf(id);
  await checkFits(dir, meta, newRoot);
  await store.withWritable(id, async () => {
    for (const rel of meta.rootPathFiles) {
      const path = join(dir, rel);
      const st = await fs.lstat(path);
      const out = rewriteBytes(await fs.readFile(path), meta.embeddedRoot, newRoot);
      if (out === 'too-long') throw new Error('Assertion failed: checked before rewriting');
      const tmp = tempSibling(path);
      await fs.writeFile(tmp, out, { mode: st.mode });
      await fs.rename(tmp, path);
      records[rel] = await recordOf(path, 'file', st.mode, out.length);
    }
  });
  await store.writeMeta({ ...meta, files: records, embeddedRoot: newRoot });
  return meta.rootPathFiles.length;
}

async function checkFits(dir: string, meta: StoreMeta, newRoot: string): Promise<void> {
  for (const rel of meta.rootPathFiles) {
    const head = Buffer.alloc(4);
    const fh = await fs.open(join(dir, rel), 'r');
    try {
      await fh.read(head, 0, 4, 0);
    } finally {
      await fh.close();
    }
    if (head.equals(ELF_MAGIC) && newRoot.length > meta.embeddedRoot.length)
      throw new AppError(
        'E_RELOCATE',
        `${meta.id}/${rel} embeds ${meta.embeddedRoot} in a binary; ${newRoot} is longer`,
        {
          hint: `binaries can only move to a root path of at most ${meta.embeddedRoot.length} characters; rebuild, or choose a shorter root`,
        },
      );
  }
}
