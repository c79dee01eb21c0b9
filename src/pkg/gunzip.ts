/**
 * Gzip decompression on the calling thread, into one buffer used over and over (and without gzip's CRC-32: see
 * Gunzip).
 *
 * Node's gunzip stream inflates on libuv's thread pool and hands on each piece in a new buffer. For a package
 * archive that is a thread hop per piece, a stream's machinery around it, and fresh memory whose every page
 * faults on first touch. Measured on the 200 MB bench closure, one thread: 0.75 s of CPU through the stream,
 * 0.45–0.50 s here.
 *
 * The zlib handle behind a stream has a synchronous write into a caller's buffer: Node's own zlibSync
 * functions use it, and so do other packages (minizlib). It is not documented, so it is checked for when a
 * Gunzip is made; where it is missing, `inflateInPlace()` says so and extraction uses the stream instead.
 */
import {
  constants,
  createGunzip,
  createInflateRaw,
  type Gunzip as ZlibGunzip,
  type InflateRaw as ZlibInflateRaw,
} from 'node:zlib';

/** Output pieces: large enough that per-call costs vanish, small enough to stay in a core's cache. */
const OUT = 256 * 1024;
const NOTHING = Buffer.alloc(0);

type WriteSync = (
  flush: number,
  input: Buffer,
  inOffset: number,
  inLength: number,
  output: Buffer,
  outOffset: number,
  outLength: number,
) => void;

/** What a zlib stream holds inside: its handle, and where the handle leaves the space left after a write. */
interface Internals {
  readonly _handle?: { readonly writeSync?: WriteSync } | null;
  readonly _writeState?: unknown;
}

let available: boolean | undefined;
let forced: boolean | undefined;

/**
 * Whether this Node has what Gunzip uses. Node 20 does (the handle's synchronous write has backed zlibSync for
 * many releases), but only Node 20 was tried here: on a release without it, extraction takes the stream.
 */
export function inflateInPlace(): boolean {
  if (forced !== undefined) return forced;
  if (available === undefined) {
    const z = createInflateRaw();
    const inside = z as unknown as Internals;
    available = typeof inside._handle?.writeSync === 'function' && inside._writeState instanceof Uint32Array;
    z.close();
  }
  return available;
}

/** For tests: take the stream path (false) as on a Node without the handle; undefined to check again. */
export function forceInflateInPlace(value: boolean | undefined): void {
  forced = value;
}

/** Where a gzip stream is: in a member's header, its deflate data, its 8-byte trailer, or between members. */
type Phase = 'header' | 'body' | 'trailer' | 'after';

/** Bytes of one member's header past which it is refused: names and comments are short, extra fields tiny. */
const MAX_HEADER = 64 * 1024;
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/**
 * A gzip stream (one or more members) decompressed as its bytes are pushed.
 *
 * Without the CRC (`crc: false`), the deflate data is inflated raw and gzip's framing is read here, and the
 * CRC-32 is not computed: 4% of an install's CPU, for a check that the signed manifest's sha256 of every file
 * makes redundant. The trailer's length is still checked, and anything but zero padding after the last member
 * is refused, as gunzip does.
 */
export class Gunzip {
  /** Without the CRC: the deflate data inflated raw, the framing read here. */
  readonly #raw: boolean;
  readonly #z: ZlibInflateRaw | ZlibGunzip;
  readonly #write: WriteSync;
  /** After a write: [output space left, input left]. */
  readonly #state: Uint32Array;
  readonly #out = Buffer.allocUnsafe(OUT);
  #phase: Phase = 'header';
  /** The header or trailer bytes collected so far (copied: the caller may reuse its buffers). */
  #pending: Buffer = NOTHING;
  /** The member's output so far, modulo 2^32 (as the trailer records it). */
  #size = 0;

  /** `crc: false` for archives whose files are checked against hashes anyway (extract.ts). */
  constructor(opts: { readonly crc: boolean }) {
    this.#raw = !opts.crc;
    this.#z = this.#raw ? createInflateRaw() : createGunzip();
    // A bad stream makes the handle destroy the stream with the error, which would then be emitted later.
    this.#z.on('error', () => undefined);
    const { _handle: handle, _writeState: state } = this.#z as unknown as Internals;
    const write = handle?.writeSync;
    if (typeof write !== 'function' || !(state instanceof Uint32Array))
      throw new Error('Assertion failed: Gunzip made where inflateInPlace() is false');
    this.#write = write.bind(handle);
    this.#state = state;
  }

  /**
   * Decompresses `input`, giving `sink` the output in pieces. A piece is a view of a buffer that the next piece
   * overwrites: `sink` must be done with it when it returns (copy what it keeps).
   */
  push(input: Buffer, sink: (piece: Buffer) => void): void {
    // zlib's gunzip reads the framing itself, and stops at zero padding after the last member.
    if (!this.#raw) {
      this.#inflate(input, 0, constants.Z_NO_FLUSH, sink);
      return;
    }
    for (let at = 0; at < input.length;) {
      if (this.#phase === 'header') at = this.#header(input, at);
      else if (this.#phase === 'body') at = this.#inflate(input, at, constants.Z_NO_FLUSH, sink);
      else if (this.#phase === 'trailer') at = this.#trailer(input, at);
      else at = this.#after(input, at);
    }
  }

  /** The input ended: the rest of the output, or an error unless it ended after a whole member. */
  end(sink: (piece: Buffer) => void): void {
    if (!this.#raw) this.#inflate(NOTHING, 0, constants.Z_FINISH, sink);
    else if (this.#phase !== 'after') throw gzipError('Z_BUF_ERROR', 'unexpected end of file');
  }

  /** Frees zlib's memory; the object cannot be used again. */
  close(): void {
    this.#z.close();
  }

  /** Collects a member's header and checks it; returns where its deflate data starts in `input`. */
  #header(input: Buffer, at: number): number {
    const had = this.#pending.length;
    const bytes =
      had === 0 ? input.subarray(at) : Buffer.concat([this.#pending, input.subarray(at, at + MAX_HEADER)]);
    const length = headerLength(bytes);
    if (length === undefined) {
      if (bytes.length > MAX_HEADER) throw gzipError('Z_DATA_ERROR', 'gzip header is too long');
      this.#pending = Buffer.from(bytes);
      return input.length;
    }
    this.#pending = NOTHING;
    this.#phase = 'body';
    this.#size = 0;
    return at + length - had;
  }

  /** Inflates from `input` at `at`; returns where the deflate data ended, or the input's length. */
  #inflate(input: Buffer, at: number, flush: number, sink: (piece: Buffer) => void): number {
    const out = this.#out;
    for (let left = input.length - at; ;) {
      this.#write(flush, input, at, left, out, 0, out.length);
      // The handle reports bad data by destroying its stream, before writeSync returns.
      const failed = this.#z.errored;
      if (failed !== null) throw failed;
      const outLeft = this.#state[0] ?? 0;
      const inLeft = this.#state[1] ?? 0;
      const produced = out.length - outLeft;
      if (produced > 0) {
        this.#size = (this.#size + produced) % 2 ** 32;
        sink(out.subarray(0, produced));
      }
      at += left - inLeft;
      left = inLeft;
      // zlib stops short of both the output's end and the input's only at the end of the deflate data.
      if (outLeft !== 0 && inLeft !== 0 && this.#raw) {
        this.#phase = 'trailer';
        return at;
      }
      if (outLeft !== 0) return at;
    }
  }

  /** Collects the 8-byte trailer (CRC-32, then the length) and checks the length. */
  #trailer(input: Buffer, at: number): number {
    const take = Math.min(8 - this.#pending.length, input.length - at);
    this.#pending = Buffer.concat([this.#pending, input.subarray(at, at + take)]);
    if (this.#pending.length === 8) {
      const size = this.#pending.readUInt32LE(4);
      if (size !== this.#size)
        throw gzipError('Z_DATA_ERROR', `gzip trailer says ${size} bytes (mod 2^32), inflated ${this.#size}`);
      this.#pending = NOTHING;
      this.#phase = 'after';
    }
    return at + take;
  }

  /** After a member: another member, or zero padding; anything else is refused. */
  #after(input: Buffer, at: number): number {
    const b = input[at];
    if (b === 0x1f) {
      (this.#z as ZlibInflateRaw).reset();
      this.#phase = 'header';
      return at;
    }
    if (b !== 0) throw gzipError('Z_DATA_ERROR', 'data after the end of the gzip stream');
    let i = at;
    while (i < input.length && input[i] === 0) i++;
    return i;
  }
}

/** The length of the gzip member header at the start of `b`, or undefined when more bytes are needed. */
function headerLength(b: Buffer): number | undefined {
  if (b.length < 10) return undefined;
  if (b[0] !== 0x1f || b[1] !== 0x8b) throw gzipError('Z_DATA_ERROR', 'incorrect header check');
  if (b[2] !== 8) throw gzipError('Z_DATA_ERROR', 'unknown compression method');
  const flags = b[3] ?? 0;
  if ((flags & 0xe0) !== 0) throw gzipError('Z_DATA_ERROR', 'reserved gzip header flags set');
  let pos = 10;
  if (flags & FEXTRA) {
    if (b.length < pos + 2) return undefined;
    pos += 2 + b.readUInt16LE(pos);
  }
  for (const flag of [FNAME, FCOMMENT])
    if (flags & flag) {
      const nul = b.indexOf(0, pos);
      if (nul < 0) return undefined;
      pos = nul + 1;
    }
  if (flags & FHCRC) pos += 2;
  return b.length < pos ? undefined : pos;
}

/** An error as zlib's are: a Z_ code, which extraction reports as a damaged archive (E_ARCHIVE_CORRUPT). */
function gzipError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
