export { isIsoDate, readAuditConfig, addIgnoreText, type AuditConfig } from './config.js';
export {
  CVSS4_BASE_METRICS,
  cvss3BaseScore,
  cvss4BaseScore,
  severityOfScore,
  severityOfWord,
} from './cvss.js';
export { compareDewey, deweyTest, parseDewey } from './dewey.js';
export { loadAdvisories, type LoadedAdvisories, type SourceInfo } from './load.js';
export {
  applyIgnores,
  audit,
  compareAudits,
  failing,
  indexAdvisories,
  parseFailOn,
  type AdvisoryIndex,
  type AuditResult,
  type FailOn,
  type IgnoreOutcome,
} from './match.js';
export { compareSemver, evaluateOsv, parseOsvRecord, readOsvDocument } from './osv.js';
export { matchPattern, patternNames } from './pattern.js';
export { parsePkgVulnerabilities, type PkgVulnerabilities } from './pkgsrc.js';
export { cycloneDxBom, filesDigest, spdxDocument, type SbomComponent, type SbomInput } from './sbom.js';
export {
  severities,
  type Advisory,
  type AffectedRule,
  type AuditPackage,
  type Finding,
  type Ignore,
  type Severity,
} from './types.js';
export { readZip } from './zip.js';
