export { diffPackages, type GenerationDiff, type PackageChange } from './diff.js';
export {
  cleanProfileLeftovers,
  GENERATION_FORMAT_VERSION,
  linkGeneration,
  listProfiles,
  Profile,
  type GenerationInfo,
  type GenerationManifest,
  type GenerationPackage,
} from './profile.js';
export { collectGarbage, type GcResult } from './gc.js';
