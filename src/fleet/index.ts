export {
  deploy,
  formatSize,
  probeHosts,
  rollbackHosts,
  type DeployOptions,
  type FleetContext,
  type HostOutcome,
  type HostResult,
  type HostStatus,
} from './deploy.js';
export {
  checkHostPlatform,
  planHost,
  rolloutWaves,
  selectHosts,
  type HostPlan,
  type ProfileStep,
} from './plan.js';
export { openProbed, parseProbe } from './probe.js';
export {
  describeAddress,
  LocalTransport,
  openTransport,
  sshSettings,
  SshTransport,
  type Transport,
} from './transport.js';
export type { FleetHost, FleetSettings, HostProfileState, HostState, ProfileTarget } from './types.js';
