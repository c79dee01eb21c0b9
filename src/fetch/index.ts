export { fetchSource, hashLocal, sourceHash, type FetchedSource, type FetchOptions } from './fetch.js';
