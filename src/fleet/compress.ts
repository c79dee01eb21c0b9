import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createGzip, gzipSync, type Gzip } from 'node:zlib';
import { AppError } from '../core/index.js';

/**
 * How a tar stream is compressed on its way to a host. zstd when both ends have it: at its default level it
 * packed the benchmark's 200 MB closure to 134 MB in 0.9 s on one core here, where gzip -1 took 6.4 s for
 * 159 MB, and it unpacks faster on the host, whose cores also decrypt ssh. gzip otherwise: every host has it.
 * Both formats decode a run of concatenated members or frames as one stream, so store paths are packed once
 * and sent in any order.
 */
export type Codec = 'gzip' | 'zstd';

/** zstd's default level: better than gzip -9's ratio at several times gzip -1's speed. */
const ZSTD_LEVEL = '-3';

let zstdHere: boolean | undefined;

/** Whether this machine has a zstd program on PATH (checked once, without running it). */
export function localZstd(): boolean {
  zstdHere ??= (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d || '.', 'zstd'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return zstdHere;
}

/** Tar data to compress, and whether it is worth compressing (gzip only; zstd finds out by itself, fast). */
export interface Piece {
  readonly data: Buffer;
  readonly stored: boolean;
}

/** Compresses `pieces` with `codec`, handing each compressed chunk to `sink` (awaited: backpressure). */
export async function compressTo(
  codec: Codec,
  pieces: AsyncIterable<Piece>,
  sink: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  if (codec === 'zstd') return zstdTo(pieces, sink);
  const members = new MemberWriter(sink);
  try {
    for await (const piece of pieces) await members.write(piece.data, piece.stored ? 0 : 1);
    await members.finish();
  } finally {
    members.abort();
  }
}

const endOfArchive = new Map<Codec, Buffer>();

/** The tar end (two zero blocks) as its own member or frame; made on first use. */
export function endMember(codec: Codec): Buffer {
  let end = endOfArchive.get(codec);
  if (end === undefined) {
    end = smallMember(codec, Buffer.alloc(1024));
    endOfArchive.set(codec, end);
  }
  return end;
}

/**
 * A few kilobytes as one member or frame, made here without a process: gzip through zlib, zstd as a frame of
 * raw (stored) blocks, which any zstd decoder reads and which costs no spawn for what would not shrink much.
 */
export function smallMember(codec: Codec, data: Buffer): Buffer {
  return codec === 'gzip' ? gzipSync(data, { level: 1 }) : zstdStoredFrame(data);
}

/** zstd's block size limit (RFC 8878, Block_Maximum_Size). */
const ZSTD_BLOCK = 128 << 10;

/**
 * A zstd frame (RFC 8878) holding `data` in raw blocks: the magic number, a single-segment frame header with
 * the content size, then blocks of at most 128 KiB, each a 3-byte header (last-block flag, type 0 = raw,
 * size) and the bytes as they are.
 */
export function zstdStoredFrame(data: Buffer): Buffer {
  const size = data.length;
  // Frame_Content_Size takes 1 byte below 256, 2 bytes (minus 256) below 65,792, else 4 bytes.
  const fcs = size < 256 ? 0 : size < 65_792 ? 1 : 2;
  const header = Buffer.alloc(fcs === 0 ? 6 : fcs === 1 ? 7 : 9);
  header.writeUInt32LE(0xfd2fb528, 0);
  header[4] = (fcs << 6) | 0x20; // Single_Segment_flag: the window is the content size
  if (fcs === 0) header[5] = size;
  else if (fcs === 1) header.writeUInt16LE(size - 256, 5);
  else header.writeUInt32LE(size, 5);
  const parts: Buffer[] = [header];
  for (let off = 0; ; off += ZSTD_BLOCK) {
    const block = data.subarray(off, off + ZSTD_BLOCK);
    const last = off + ZSTD_BLOCK >= size;
    const bh = Buffer.alloc(3);
    bh.writeUIntLE((block.length << 3) | (last ? 1 : 0), 0, 3);
    parts.push(bh, block);
    if (last) break;
  }
  return Buffer.concat(parts);
}

async function zstdTo(pieces: AsyncIterable<Piece>, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
  const child = startZstd();
  const exited = exitOf(child);
  const drained = (async () => {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) await sink(chunk);
  })();
  drained.catch(() => child.kill());
  try {
    for await (const piece of pieces)
      if (!child.stdin.write(piece.data)) await Promise.race([once(child.stdin, 'drain'), drained]);
    child.stdin.end();
    await drained;
    await exited;
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

type ZstdChild = ChildProcessByStdio<Writable, Readable, null>;

function startZstd(): ZstdChild {
  return spawn('zstd', ['-q', ZSTD_LEVEL, '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function exitOf(child: ZstdChild): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => {
      reject(zstdError(e.message));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(zstdError(`zstd ended with ${signal ?? `status ${code}`}`));
    });
  });
  done.catch(() => undefined); // awaited by the caller; a failure elsewhere must not make it unhandled
  return done;
}

function zstdError(why: string): AppError {
  return new AppError('E_FLEET_REMOTE', `packing store paths with zstd failed: ${why}`, {
    hint: 'check that zstd works on this machine (zstd -V), or remove it from PATH to send gzip',
  });
}

/**
 * A run of gzip members, a new one whenever the level changes (zlib's params() does not change a gzip
 * stream's level in Node here); `gzip -dc` reads them as one stream.
 */
class MemberWriter {
  private readonly sink: (chunk: Buffer) => Promise<void>;
  private gz: Gzip | undefined;
  private level = -1;
  private written: Promise<void> = Promise.resolve();

  constructor(sink: (chunk: Buffer) => Promise<void>) {
    this.sink = sink;
  }

  async write(data: Buffer, level: number): Promise<void> {
    let gz = this.gz;
    if (level !== this.level || gz === undefined) {
      await this.finish();
      gz = this.start(level);
    }
    if (!gz.write(data)) await Promise.race([once(gz, 'drain'), this.written]);
  }

  async finish(): Promise<void> {
    this.gz?.end();
    this.gz = undefined;
    await this.written;
  }

  abort(): void {
    this.gz?.destroy();
  }

  private start(level: number): Gzip {
    const gz = createGzip({ level, chunkSize: 1 << 16 });
    this.gz = gz;
    this.level = level;
    const sink = this.sink;
    this.written = (async () => {
      for await (const chunk of gz as AsyncIterable<Buffer>) await sink(chunk);
    })();
    this.written.catch(() => undefined);
    return gz;
  }
}
