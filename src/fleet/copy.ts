import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { AppError, sha256Bytes } from '../core/index.js';
import { tarPieces, tarSources } from '../pkg/index.js';
import { removeTree, type StreamResult } from '../platform/index.js';
import { rewriteBytes, type FileRecord, type Store, type StoreId, type StoreMeta } from '../store/index.js';
import { compressTo, endMember, smallMember, type Codec } from './compress.js';
import { RECEIVE, receiveHeader } from './scripts.js';
import { checkResult, type Transport } from './transport.js';

/** A store path as it must land on one host: files that embed the root rewritten for that host's root. */
export interface OutgoingPath {
  readonly id: StoreId;
  readonly meta: StoreMeta;
  readonly replace: ReadonlyMap<string, Buffer>;
  readonly bytes: number;
  /** Same key, same bytes on the wire: the id, plus the host root when files had to be rewritten for it. */
  readonly key: string;
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
  readMeta: (id: StoreId) => Promise<StoreMeta> = (id) => store.readMeta(id),
): Promise<OutgoingPath[]> {
  const out: OutgoingPath[] = [];
  for (const id of ids) {
    const meta = await readMeta(id);
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
    const key = replace.size === 0 ? id : `${id}@${sha256Bytes(hostRoot).slice(0, 16)}`;
    out.push({ id, meta: { ...meta, files, embeddedRoot: hostRoot }, replace, bytes, key });
  }
  return out;
}

/** A packed store path: in memory (readable while it is still being packed) or, past the cap, in a file. */
class Pack {
  readonly chunks: Buffer[] = [];
  done = false;
  failed: Error | undefined;
  file: string | undefined;
  private waiters: (() => void)[] = [];

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.wake();
  }

  finish(error?: unknown): void {
    this.done = true;
    this.failed =
      error === undefined || error instanceof Error ? error : new Error('packing failed', { cause: error });
    this.wake();
  }

  /** Every byte, in order, as soon as it exists. */
  async *read(): AsyncGenerator<Buffer> {
    for (let i = 0; ;) {
      for (let c = this.chunks[i]; c !== undefined; c = this.chunks[++i]) yield c;
      if (this.done) break;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failed !== undefined) throw this.failed;
    if (this.file !== undefined)
      for await (const chunk of createReadStream(this.file, { highWaterMark: 1 << 20 }))
        yield chunk as Buffer;
  }

  /** Resolves when packing has ended, well or not. */
  async settled(): Promise<void> {
    while (!this.done) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Each store path packed once per deploy, whatever the number of hosts: a gzip member holding its tar entries
 * (`<id>/…`, `.meta/<id>.json`) without the end-of-archive blocks. Members concatenate: `gzip -dc` reads a
 * run of them as one stream, so a batch is its paths' members plus one holding the end of the archive.
 * Packing runs ahead of sending, one path per core at a time (zlib works in Node's thread pool); packs are
 * kept in memory up to a cap, so a host can be sent a path while it is still being packed, then in files.
 */
export class Packer implements AsyncDisposable {
  private readonly dir: string;
  private readonly store: Store;
  private readonly packs = new Map<string, Pack>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private inMemory = 0;
  private spilled = false;
  private readonly limit = Math.max(1, availableParallelism());
  private readonly memoryCap: number;

  private constructor(store: Store, dir: string, memoryCap: number) {
    this.store = store;
    this.dir = dir;
    this.memoryCap = memoryCap;
  }

  /**
   * Spilled packs live beside the store (same disk), in a directory made on the first spill; `token` makes its
   * name this run's own.
   */
  static open(store: Store, token: string, memoryCap = 512 << 20): Packer {
    return new Packer(store, join(store.rootDir, 'var', `fleet-packs-${token}`), memoryCap);
  }

  /** The packed bytes of a path, made once per codec; asking early lets packing run ahead of the wire. */
  read(p: OutgoingPath, codec: Codec): AsyncGenerator<Buffer> {
    return this.start(p, codec).read();
  }

  /** Start packing a path (once per codec) without reading it yet. */
  start(p: OutgoingPath, codec: Codec): Pack {
    return this.once(`${p.key}.${codec}`, p.bytes, (sink) => this.writePath(p, codec, sink));
  }

  /** A generation tree (links and directories) under the name `as`, packed once per codec for every host. */
  readTree(tree: string, as: string, codec: Codec): AsyncGenerator<Buffer> {
    return this.startTree(tree, as, codec).read();
  }

  /** Start packing a generation tree without reading it yet (every host that switches needs it). */
  startTree(tree: string, as: string, codec: Codec): Pack {
    const pieces = async function* () {
      for await (const data of tarSources([{ dir: tree, as }], { dirs: [], files: [], end: false }))
        yield { data, stored: false };
    };
    return this.once(`${as}.${codec}`, 0, (sink) => compressTo(codec, pieces(), sink));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.packs.values()].map((p) => p.settled()));
    if (this.spilled) await removeTree(this.dir);
  }

  private once(key: string, bytes: number, make: (sink: (chunk: Buffer) => Promise<void>) => Promise<void>) {
    let pack = this.packs.get(key);
    if (pack === undefined) {
      const made = new Pack();
      pack = made;
      this.packs.set(key, made);
      void this.slot(() => this.fill(key, bytes, made, make)).then(
        () => {
          made.finish();
        },
        (e: unknown) => {
          made.finish(e ?? new Error('packing failed'));
        },
      );
    }
    return pack;
  }

  /** Packs into memory, or past the cap into a file (read back after what is in memory). */
  private async fill(
    key: string,
    bytes: number,
    pack: Pack,
    make: (sink: (chunk: Buffer) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const spill = this.inMemory + bytes > this.memoryCap;
    const file = join(this.dir, key.replace('@', '-'));
    if (spill && !this.spilled) {
      await fs.mkdir(this.dir, { recursive: true });
      this.spilled = true;
    }
    const fh = spill ? await fs.open(file, 'w') : undefined;
    if (!spill) this.inMemory += bytes;
    try {
      await make(async (chunk) => {
        if (fh === undefined) pack.append(chunk);
        else for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off)).bytesWritten;
      });
      if (fh !== undefined) pack.file = file;
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  private async writePath(p: OutgoingPath, codec: Codec, sink: (chunk: Buffer) => Promise<void>) {
    // Compressing what does not shrink (media, archives, random data) only costs time on both ends; zstd
    // notices by itself, gzip is told which files to store.
    const raw = codec === 'gzip' ? await incompressibleFiles(this.store.pathOf(p.id), p.meta) : new Set();
    const tar = tarPieces([{ dir: this.store.pathOf(p.id), as: p.id, replace: p.replace }], {
      dirs: [],
      files: [{ path: `.meta/${p.id}.json`, data: Buffer.from(`${JSON.stringify(p.meta, null, 1)}\n`) }],
      end: false,
    });
    const pieces = (async function* () {
      for await (const piece of tar)
        yield { data: piece.data, stored: piece.file !== undefined && raw.has(piece.file) };
    })();
    await compressTo(codec, pieces, sink);
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

const SAMPLE = 16 << 10;

/**
 * Files of 64 KiB or more whose first 16 KiB do not shrink by a twentieth at deflate level 1: sent stored.
 * A sample is cheap (about half a millisecond); compressing a file that does not shrink costs 30 ms a MB.
 */
async function incompressibleFiles(dir: string, meta: StoreMeta): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [rel, rec] of Object.entries(meta.files)) {
    if (rec.type !== 'file' || rec.size < 4 * SAMPLE) continue;
    const fh = await fs.open(join(dir, rel), 'r');
    try {
      const buf = Buffer.alloc(SAMPLE);
      const { bytesRead } = await fh.read(buf, 0, SAMPLE, 0);
      if (deflateRawSync(buf.subarray(0, bytesRead), { level: 1 }).length > bytesRead * 0.95) out.add(rel);
    } finally {
      await fh.close();
    }
  }
  return out;
}

/** A generation to make on the host after its store paths: the linked tree and its manifest. */
export interface GenerationStage {
  readonly profile: string;
  readonly number: number;
  readonly tree: string;
  readonly manifest: Buffer;
  /** Store paths it needs, checked on the host before the generation is made. */
  readonly closure: readonly StoreId[];
}

export interface SendOptions {
  readonly root: string;
  /** How the host is sent its data: zstd when both ends have it. */
  readonly codec: Codec;
  readonly token: string;
  /** Made complete (not current) on the host in the same command as the last batch of paths. */
  readonly generations: readonly GenerationStage[];
  /** Bytes sent so far over the wire (compressed), for progress. */
  readonly onBytes?: (total: number) => void;
  /** Paths go in batches of about this many bytes; each path lands whole or not at all. */
  readonly batchBytes?: number;
  /** A RECEIVE started ahead, for the first batch (cancelled when nothing is sent). */
  readonly receiver?: Receiver;
}

/**
 * Copy store paths to a host, in batches, as packed by `packer`, then stage the new generations. A path
 * appears on the host only once complete, so a copy cut anywhere resumes with the paths still missing.
 * The first batch goes to `opts.receiver` when one was started ahead.
 */
export async function sendPaths(
  t: Transport,
  packer: Packer,
  paths: readonly OutgoingPath[],
  opts: SendOptions,
) {
  for (const p of paths) packer.start(p, opts.codec);
  const all = batches(paths, opts.batchBytes ?? 32 << 20);
  if (all.length === 0 && opts.generations.length > 0) all.push([]);
  let sent = 0;
  let ahead = opts.receiver;
  try {
    for (const [i, batch] of all.entries()) {
      const gens = i === all.length - 1 ? opts.generations : [];
      const spec = gens.map((g) => `${g.profile}:${g.number}`).join(',');
      const needs = [...new Set(gens.flatMap((g) => g.closure))];
      const header = receiveHeader(
        spec,
        opts.codec,
        batch.map((p) => p.id),
        needs,
      );
      const receiver = ahead ?? Receiver.start(t, opts.root, opts.token);
      ahead = undefined;
      const data = batchStream(packer, opts.codec, batch, gens);
      const r = await receiver.send(header, data, (n) => opts.onBytes?.(sent + n));
      const what =
        gens.length > 0 ? 'receiving store paths and staging the new generation' : 'receiving store paths';
      sent += checkResult(t.host, what, r, undefined).bytesIn;
    }
  } finally {
    await ahead?.cancel();
  }
  return { bytes: sent, paths: paths.length };
}

/**
 * A RECEIVE started before ferry knows what it will send: its ssh process and session (tens of milliseconds
 * of a host's time) are set up while the host is still being probed and planned. It waits for its first line.
 */
export class Receiver {
  private go: ((feed: { header: Buffer; data: AsyncIterable<Buffer> } | undefined) => void) | undefined;
  private readonly result: Promise<StreamResult>;
  private headerBytes = 0;
  private onBytes: ((n: number) => void) | undefined;

  private constructor(t: Transport, root: string, token: string) {
    const fed = new Promise<{ header: Buffer; data: AsyncIterable<Buffer> } | undefined>((resolve) => {
      this.go = resolve;
    });
    const stdin = (async function* () {
      const feed = await fed;
      if (feed === undefined) return;
      yield feed.header;
      yield* feed.data;
    })();
    this.result = t.run(RECEIVE, [root, token], {
      stdin,
      onStdinBytes: (n) => this.onBytes?.(n - this.headerBytes),
    });
    this.result.catch(() => undefined); // awaited by send or cancel
  }

  static start(t: Transport, root: string, token: string): Receiver {
    return new Receiver(t, root, token);
  }

  /** Its line, then the data; once. bytesIn and onBytes count the data only. */
  async send(
    header: string,
    data: AsyncIterable<Buffer>,
    onBytes?: (n: number) => void,
  ): Promise<StreamResult> {
    if (this.go === undefined) throw new Error('Assertion failed: a receiver sends once');
    const line = Buffer.from(header);
    this.headerBytes = line.length;
    this.onBytes = onBytes;
    this.go({ header: line, data });
    this.go = undefined;
    const r = await this.result;
    return { ...r, bytesIn: Math.max(0, r.bytesIn - line.length) };
  }

  /** Ends it unused: its stdin closes before the line, and the script exits having done nothing. */
  async cancel(): Promise<void> {
    this.go?.(undefined);
    this.go = undefined;
    await this.result.catch(() => undefined);
  }
}

/** Where a profile's generation tree is unpacked on the host, beside the store paths sent with it. */
export function genTreeName(profile: string): string {
  return `.gen-${profile}`;
}

async function* batchStream(
  packer: Packer,
  codec: Codec,
  batch: readonly OutgoingPath[],
  gens: readonly GenerationStage[],
): AsyncGenerator<Buffer> {
  for (const p of batch) yield* packer.read(p, codec);
  for (const g of gens) yield* packer.readTree(g.tree, genTreeName(g.profile), codec);
  if (gens.length > 0) {
    // Each host's manifests (its own generation numbers) are small: made here, without a process.
    const files = gens.map((g) => ({ path: `${genTreeName(g.profile)}/.generation.json`, data: g.manifest }));
    const tar: Buffer[] = [];
    for await (const data of tarSources([], { dirs: [], files, end: false })) tar.push(data);
    yield smallMember(codec, Buffer.concat(tar));
  }
  yield endMember(codec);
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
