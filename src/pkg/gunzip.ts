/**
 * Gzip decompression on the calling thread, into one buffer used over and over.
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
import { constants, createGunzip, type Gunzip as ZlibGunzip } from 'node:zlib';

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

/** Whether this Node has what Gunzip uses (every release from 20 to 24 does). */
export function inflateInPlace(): boolean {
  if (forced !== undefined) return forced;
  if (available === undefined) {
    const z = createGunzip();
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

/** A gzip stream (one or more members) decompressed as its bytes are pushed. */
export class Gunzip {
  readonly #z: ZlibGunzip;
  readonly #write: WriteSync;
  /** After a write: [output space left, input left]. */
  readonly #state: Uint32Array;
  readonly #out = Buffer.allocUnsafe(OUT);

  constructor() {
    this.#z = createGunzip();
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
    this.#run(input, constants.Z_NO_FLUSH, sink);
  }

  /** The input ended: the rest of the output, or an error when the gzip stream is incomplete. */
  end(sink: (piece: Buffer) => void): void {
    this.#run(NOTHING, constants.Z_FINISH, sink);
  }

  /** Frees zlib's memory; the object cannot be used again. */
  close(): void {
    this.#z.close();
  }

  #run(input: Buffer, flush: number, sink: (piece: Buffer) => void): void {
    const out = this.#out;
    for (let at = 0, left = input.length; ;) {
      this.#write(flush, input, at, left, out, 0, out.length);
      // The handle reports bad data by destroying its stream, before writeSync returns.
      const failed = this.#z.errored;
      if (failed !== null) throw failed;
      const outLeft = this.#state[0] ?? 0;
      const inLeft = this.#state[1] ?? 0;
      if (outLeft < out.length) sink(out.subarray(0, out.length - outLeft));
      at += left - inLeft;
      left = inLeft;
      // Space left over means zlib took all it could of this input.
      if (outLeft !== 0) return;
    }
  }
}
