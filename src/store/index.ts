export { filesContaining, hashTree } from './hashtree.js';
export {
  META_FORMAT_VERSION,
  parseMeta,
  parseStoreId,
  tryParseStoreId,
  type FileRecord,
  type StoreId,
  type StoreMeta,
} from './meta.js';
export { relocateStore, rewriteBytes, type RelocateResult } from './relocate.js';
export { Store, type Registration, type VerifyProblem } from './store.js';
