import { parentPort } from 'node:worker_threads';
import { extractHashed, serializeError, type ExtractJob, type ExtractReply } from './extract.js';

/** Progress is sent in steps of this many bytes: one message per chunk would cost more than it tells. */
const PROGRESS_STEP = 1 << 20;

const reply = (m: ExtractReply) => parentPort?.postMessage(m);

// A worker thread of ExtractPool (extract-pool.ts): extracts one package at a time, in the order they come (the
// pool sends the next before this one ends). What it does is mostly synchronous file creation and hashing, so
// two of them keep two cores busy where one thread did both in turn.
let queue: Promise<void> = Promise.resolve();
parentPort?.on('message', (job: ExtractJob) => {
  // run() answers every job; a throw past that (a reply that cannot be sent) must not stop the jobs after it.
  queue = queue.then(() => run(job)).catch((e: unknown) => reply({ id: job.id, error: serializeError(e) }));
});

function run(job: ExtractJob): Promise<void> {
  let unsent = 0;
  const flush = () => {
    if (unsent > 0) reply({ id: job.id, bytes: unsent });
    unsent = 0;
  };
  const onBytes = (n: number) => {
    unsent += n;
    if (unsent >= PROGRESS_STEP) flush();
  };
  return extractHashed(job, job.progress ? onBytes : undefined).then(
    (files) => {
      flush();
      reply({ id: job.id, files });
    },
    (e: unknown) => {
      flush();
      reply({ id: job.id, error: serializeError(e) });
    },
  );
}
