export {
  LOCK_FORMAT_VERSION,
  lockProfile,
  parseLock,
  planFromLock,
  serializeLock,
  type LockedPackage,
  type LockedProfile,
  type Lockfile,
} from './lockfile.js';
export { parseManifest, type Manifest, type ManifestProfile } from './manifest.js';
export type { FleetSettings, HostAddress, ManifestHost } from './hosts.js';
export { packageKey, runClosure, topoOrder, type PackageKey, type Plan, type PlanNode } from './plan.js';
export { resolve, type ResolveRequest } from './resolve.js';
export { edgeKind, whyChains } from './why.js';
