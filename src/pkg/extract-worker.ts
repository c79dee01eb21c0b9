import { parentPort } from 'node:worker_threads';
import { extractHashed, serializeError, type ExtractJob, type ExtractReply } from './extract.js';

// A worker thread of ExtractPool (extract-pool.ts): extracts one package at a time. What it does is mostly
// synchronous file creation and hashing, so two of them keep two cores busy where one thread did both in turn.
parentPort?.on('message', (job: ExtractJob) => {
  extractHashed(job.archive, job.target, job.what, job.want).then(
    (files) => parentPort?.postMessage({ id: job.id, files } satisfies ExtractReply),
    (e: unknown) => parentPort?.postMessage({ id: job.id, error: serializeError(e) } satisfies ExtractReply),
  );
});
