export {
  tarPieces,
  tarSources,
  writeArchive,
  type TarFile,
  type TarPiece,
  type TarSource,
} from './archive.js';
export { extractArchive, type ArchiveEntry, type ExtractedFile } from './untar.js';
export {
  checkKeyName,
  formatKey,
  generateKey,
  parsePublicKey,
  parseSecretKey,
  publicOf,
  signBytes,
  verifyBytes,
  type PublicKey,
  type SecretKey,
} from './keys.js';
export { glibcAtMost, parseManifest, PKG_FORMAT_VERSION, type PackageManifest } from './manifest.js';
export { packageFiles, packStorePath, type PackResult } from './pack.js';
export {
  checkPlatform,
  installPackage,
  installPackageFiles,
  openManifest,
  stagePackage,
  type HostPlatform,
  type StagedPackage,
  type TrustOptions,
} from './unpack.js';
export { ExtractPool } from './extract-pool.js';
export {
  HTTP_ATTEMPTS,
  STALL_MS,
  httpGet,
  httpGetBytes,
  openInput,
  rangedGet,
  unreachable,
  isCertError,
  overLimit,
  type ArchiveInput,
} from './input.js';
