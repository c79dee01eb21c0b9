export { codes, type Code } from './codes.js';
export {
  AppError,
  assert,
  fromSystemError,
  isAppError,
  isErrno,
  isSystemError,
  messageOf,
  type AppErrorOptions,
} from './errors.js';
export { buildId, isBundled } from './build-id.js';
export { canonicalJson, sha256Bytes, sha256File, storeHash, tryParseSha256, type Sha256 } from './hash.js';
export { inParallel, largestFirst, turnsLargestFirst } from './parallel.js';
export { RecordingReporter, type Activity, type Reporter, type ReporterEvent } from './reporter.js';
export type { Context } from './context.js';
