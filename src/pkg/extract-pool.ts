import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isBundled } from '../core/index.js';
import type { ExtractedFile } from './untar.js';
import { deserializeError, type ExtractJob, type ExtractReply, type Extractor } from './extract.js';

/**
 * Worker threads that extract packages side by side. Extraction is file creation and hashing, done with
 * synchronous calls; on the main thread one package's kernel time and another's hashing took turns. Worth it
 * from two packages up on a machine with two cores or more (`forPackages`); a worker starts in ~30 ms.
 */
export class ExtractPool {
  readonly size: number;
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  /** The job each busy worker runs (one at a time). */
  private readonly running = new Map<Worker, Job>();
  private next = 0;

  private constructor(size: number) {
    this.size = size;
  }

  /** A pool for installing `count` packages, at most `parallel` at once; undefined when one thread is as good. */
  static forPackages(count: number, parallel = 4): ExtractPool | undefined {
    const size = Math.min(count, parallel, availableParallelism(), 4);
    return size >= 2 ? new ExtractPool(size) : undefined;
  }

  readonly extract: Extractor = async (req, onBytes) => {
    const worker = await this.take();
    try {
      const id = this.next++;
      return await new Promise<ExtractedFile[]>((resolve, reject) => {
        this.running.set(worker, { id, resolve, reject, onBytes });
        worker.postMessage({ ...req, id, progress: onBytes !== undefined } satisfies ExtractJob);
      });
    } finally {
      this.running.delete(worker);
      if (this.all.includes(worker)) this.idle.push(worker);
      this.waiting.shift()?.();
    }
  };

  /** Starts every worker now, rather than on first use (a worker takes ~30 ms to boot). */
  start(): void {
    while (this.all.length < this.size) this.idle.push(this.spawn());
  }

  /** Ends the workers (a pool left open would keep the process alive). */
  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }

  private async take(): Promise<Worker> {
    for (;;) {
      const w = this.idle.pop();
      if (w !== undefined) return w;
      if (this.all.length < this.size) return this.spawn();
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  private spawn(): Worker {
    const w = new Worker(workerFile());
    w.on('message', (m: ExtractReply) => {
      const job = this.running.get(w);
      if (job?.id !== m.id) return;
      if ('bytes' in m) job.onBytes?.(m.bytes);
      else if ('files' in m) job.resolve(m.files);
      else job.reject(deserializeError(m.error));
    });
    // A worker that dies fails its job and is not used again; the next job starts another.
    const dead = (e: Error) => {
      const i = this.all.indexOf(w);
      if (i >= 0) this.all.splice(i, 1);
      this.running.get(w)?.reject(e);
    };
    w.on('error', dead);
    w.on('exit', (code) => {
      dead(new Error(`an extraction worker exited (status ${code})`));
    });
    this.all.push(w);
    return w;
  }
}

interface Job {
  readonly id: number;
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
