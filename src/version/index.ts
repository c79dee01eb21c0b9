export {
  formatRange,
  ops,
  parseOp,
  satisfies,
  type Constraint,
  type Op,
  type VersionRange,
} from './range.js';
export { compareVersions, formatVersion, parseVersion, tryParseVersion, type Version } from './version.js';
