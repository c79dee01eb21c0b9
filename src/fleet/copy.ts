import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AppError, sha256Bytes } from '../core/index.js';
import { tarSources, type TarSource } from '../pkg/index.js';
import { rewriteBytes, type FileRecord, type Store, type StoreId, type StoreMeta } from '../store/index.js';
import { RECEIVE } from './scripts.js';
import { runChecked, type Transport } from './transport.js';

/** A store path as it must land on one host: files that embed the root rewritten for that host's root. */
export interface OutgoingPath {
  readonly id: StoreId;
  readonly meta: StoreMeta;
  readonly replace: ReadonlyMap<string, Buffer>;
  readonly bytes: number;
}

/**
 * Prepare store paths for a host whose root is `hostRoot`. Done before anything is sent, so a file that
 * cannot be relocated (a binary embedding a root shorter than the host's) stops the host before its copy.
 */
export async function prepareOutgoing(
  store: Store,
  ids: readonly StoreId[],
  hostRoot: string,
  host: string,
): Promise<OutgoingPath[]> {
  const out: OutgoingPath[] = [];
  for (const id of ids) {
    const meta = await store.readMeta(id);
    const replace = new Map<string, Buffer>();
    const files: Record<string, FileRecord> = { ...meta.files };
    if (meta.embeddedRoot !== hostRoot)
      for (const rel of meta.rootPathFiles) {
        const bytes = await fs.readFile(join(store.pathOf(id), rel));
        const moved = rewriteBytes(bytes, meta.embeddedRoot, hostRoot);
        if (moved === 'too-long')
          throw new AppError(
            'E_RELOCATE',
            `${host}: ${id}/${rel} is a binary that embeds ${meta.embeddedRoot}, which cannot grow to the host's root ${hostRoot}`,
            { hint: `give the host a root path no longer than ${meta.embeddedRoot.length} characters` },
          );
        replace.set(rel, moved);
        const rec = files[rel];
        if (rec?.type === 'file') files[rel] = { ...rec, sha256: sha256Bytes(moved), size: moved.length };
      }
    const bytes = Object.values(meta.files).reduce((n, f) => n + (f.type === 'file' ? f.size : 0), 0);
    out.push({ id, meta: { ...meta, files, embeddedRoot: hostRoot }, replace, bytes });
  }
  return out;
}

export interface SendOptions {
  readonly root: string;
  readonly token: string;
  /** Bytes sent so far over the wire (compressed), for progress. */
  readonly onBytes?: (total: number) => void;
  /** Paths go in batches of about this many bytes; each batch lands whole or not at all. */
  readonly batchBytes?: number;
}

/**
 * Copy store paths to a host as gzip'd tar streams, in batches. A batch's paths appear on the host only once
 * complete, so a copy cut anywhere resumes with the paths still missing.
 */
export async function sendPaths(
  t: Transport,
  store: Store,
  paths: readonly OutgoingPath[],
  opts: SendOptions,
) {
  let sent = 0;
  for (const batch of batches(paths, opts.batchBytes ?? 32 << 20)) {
    const r = await runChecked(
      t,
      'receiving store paths',
      RECEIVE,
      [opts.root, opts.token, ...batch.map((p) => p.id)],
      {
        stdin: gzipStream(batchStream(store, batch, opts.token)),
        onStdinBytes: (n) => opts.onBytes?.(sent + n),
      },
    );
    sent += r.bytesIn;
  }
  return { bytes: sent, paths: paths.length };
}

function batchStream(store: Store, batch: readonly OutgoingPath[], token: string): AsyncIterable<Buffer> {
  const sources: TarSource[] = batch.map((p) => ({
    dir: store.pathOf(p.id),
    as: `.tmp-${token}-${p.id}`,
    replace: p.replace,
  }));
  const files = batch.map((p) => ({
    path: `.meta/${p.id}.json.${token}`,
    data: Buffer.from(`${JSON.stringify(p.meta, null, 1)}\n`),
  }));
  return tarSources(sources, { dirs: [], files });
}

/** Level 1: on a LAN the wire is faster than stronger compression; binaries still shrink by half or more. */
export function gzipStream(tar: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const gz = createGzip({ level: 1, chunkSize: 1 << 16 });
  // pipeline destroys gz with the tar side's error (a file changed while sent), so the reader sees it.
  pipeline(Readable.from(tar), gz).catch(() => undefined);
  return gz;
}

function batches(paths: readonly OutgoingPath[], limit: number): OutgoingPath[][] {
  const out: OutgoingPath[][] = [];
  let cur: OutgoingPath[] = [];
  let size = 0;
  for (const p of paths) {
    if (cur.length > 0 && size + p.bytes > limit) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(p);
    size += p.bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
