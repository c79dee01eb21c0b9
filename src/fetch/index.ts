export {
  fetchSource,
  hashedLocalPaths,
  hashLocal,
  sourceHash,
  type FetchedSource,
  type FetchOptions,
} from './fetch.js';
