import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isBundled } from '../core/index.js';
import type { ExtractedFile } from './untar.js';
import { deserializeError, type ExtractJob, type ExtractReply, type Extractor } from './extract.js';

/**
 * Jobs a worker holds at once: the one it runs and the next. A worker that has the next job goes on with it
 * at once, instead of waiting for this thread to hear that it finished and to send another: this thread is
 * busy too (manifests, registering), and in a traced 50-package install those waits came to 130 ms of each
 * worker's 1.5 s.
 */
const DEPTH = 2;

/**
 * Worker threads that extract packages side by side. Extraction is file creation and hashing, done with
 * synchronous calls; on the main thread one package's kernel time and another's hashing took turns. Worth it
 * from two packages up on a machine with two cores or more (`forPackages`); a worker starts in ~30 ms.
 */
export class ExtractPool {
  readonly size: number;
  private readonly live: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private next = 0;
  private closed = false;

  private constructor(size: number) {
    this.size = size;
  }

  /** A pool for installing `count` packages, at most `parallel` at once; undefined when one thread is as good. */
  static forPackages(count: number, parallel = 4): ExtractPool | undefined {
    const size = Math.min(count, parallel, availableParallelism(), 4);
    return size >= 2 ? new ExtractPool(size) : undefined;
  }

  /** Jobs to have outstanding so that no worker waits between two: more only queue in the workers. */
  get capacity(): number {
    return this.size * DEPTH;
  }

  /** Runs on the least busy worker; each worker runs its jobs one at a time, in the order given. */
  readonly extract: Extractor = async (req, onBytes) => {
    // A job after close() would start a worker that nothing ends, and the process would never exit.
    if (this.closed) throw new Error('Assertion failed: an extraction job after the pool was closed');
    const slot = this.pick();
    const id = this.next++;
    slot.jobs.add(id);
    try {
      return await new Promise<ExtractedFile[]>((resolve, reject) => {
        this.jobs.set(id, { resolve, reject, onBytes });
        slot.worker.postMessage({ ...req, id, progress: onBytes !== undefined } satisfies ExtractJob);
      });
    } finally {
      this.jobs.delete(id);
      slot.jobs.delete(id);
    }
  };

  /** Starts every worker now, rather than on first use (a worker takes ~30 ms to boot). */
  start(): void {
    while (this.live.length < this.size) this.spawn();
  }

  /** Ends the workers (a pool left open would keep the process alive); no job is taken after. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.live.map((s) => s.worker.terminate()));
  }

  private pick(): Slot {
    if (this.live.length < this.size) return this.spawn();
    let best = this.live[0];
    for (const s of this.live) if (best === undefined || s.jobs.size < best.jobs.size) best = s;
    if (best === undefined) throw new Error('Assertion failed: an extraction pool of size 0');
    return best;
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(workerFile()), jobs: new Set() };
    slot.worker.on('message', (m: ExtractReply) => {
      const job = this.jobs.get(m.id);
      if (job === undefined) return;
      if ('bytes' in m) job.onBytes?.(m.bytes);
      else if ('files' in m) job.resolve(m.files);
      else job.reject(deserializeError(m.error));
    });
    // A worker that dies fails the jobs it holds and is not used again; the next job starts another.
    const dead = (e: Error) => {
      const i = this.live.indexOf(slot);
      if (i >= 0) this.live.splice(i, 1);
      for (const id of slot.jobs) this.jobs.get(id)?.reject(e);
    };
    slot.worker.on('error', dead);
    slot.worker.on('exit', (code) => {
      dead(new Error(`an extraction worker exited (status ${code})`));
    });
    this.live.push(slot);
    return slot;
  }
}

interface Slot {
  readonly worker: Worker;
  /** Ids of the jobs sent to it and not yet answered. */
  readonly jobs: Set<number>;
}

interface Job {
  readonly resolve: (files: ExtractedFile[]) => void;
  readonly reject: (e: Error) => void;
  readonly onBytes: ((n: number) => void) | undefined;
}

/** The bundle's worker is dist/ferry-extract.cjs beside it; tsc's output has pkg/extract-worker.js. */
function workerFile(): URL {
  return isBundled()
    ? new URL('./ferry-extract.cjs', import.meta.url)
    : new URL('./extract-worker.js', import.meta.url);
}
