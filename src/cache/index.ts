export {
  checkFreshness,
  nextIndex,
  parseIndex,
  serializeIndex,
  type CacheIndex,
  type IndexEntry,
  type SeenIndex,
} from './cache-index.js';
export { INDEX_FILE, PKG_DIR } from './layout.js';
export { pushToDir, signIndex, type PushOptions, type PushResult } from './push.js';
export { serveCache } from './serve.js';
export { openSource, type CacheSource } from './source.js';
export {
  openCache,
  substitute,
  type OpenedCache,
  type SubstituteOptions,
  type SubstituteResult,
} from './substitute.js';
