export { buildOne, defaultJobs, type BuildJob, type BuilderOptions, type BuildOutcome } from './builder.js';
export { buildEnv, buildScript, type BuildEnvInput } from './env.js';
export { computeStoreIds, hostPlatform, type Platform } from './ids.js';
export {
  buildPlan,
  describeFailure,
  realisePlanIds,
  type BuildPlanOptions,
  type BuildReport,
  type RealisedPlan,
} from './plan-build.js';
export { runDag, type DagOptions, type JobOutcome } from './schedule.js';
