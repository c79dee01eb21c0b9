export { packageKey, runClosure, topoOrder, type PackageKey, type Plan, type PlanNode } from './plan.js';
export { resolve, type ResolveRequest } from './resolve.js';
