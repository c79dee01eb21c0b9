/** How bad a finding is: from a CVSS v4 or v3 base score when the advisory has a vector, else the database's word. */
export const severities = ['unknown', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];

/** One version interval of an OSV range, already in order: `introduced` ≤ v < `fixed` (or ≤ `lastAffected`). */
export interface OsvEvent {
  readonly introduced?: string;
  readonly fixed?: string;
  readonly lastAffected?: string;
  readonly limit?: string;
}

export interface OsvRange {
  readonly type: 'ECOSYSTEM' | 'SEMVER' | 'GIT';
  readonly events: readonly OsvEvent[];
}

/** What an advisory says is affected: an OSV package entry, or a pkgsrc pattern. */
export type AffectedRule =
  | {
      readonly kind: 'osv';
      readonly name: string;
      readonly ecosystem: string;
      readonly ranges: readonly OsvRange[];
      readonly versions: readonly string[];
      /** CPE strings a converter recorded in `database_specific.cpe(s)`; matched against a recipe's `[audit] cpe`. */
      readonly cpes: readonly string[];
      readonly severity?: { readonly level: Severity; readonly score?: number; readonly vector?: string };
    }
  | { readonly kind: 'pkgsrc'; readonly pattern: string };

export interface Advisory {
  readonly id: string;
  readonly aliases: readonly string[];
  readonly summary: string;
  readonly severity: Severity;
  readonly score?: number;
  readonly vector?: string;
  readonly url?: string;
  /** RFC 3339 time the advisory was withdrawn; a withdrawn advisory never matches. */
  readonly withdrawn?: string;
  readonly modified?: string;
  readonly affected: readonly AffectedRule[];
  /** The file (or `archive.zip:entry`) it came from. */
  readonly source: string;
}

/** A package to audit: what is installed (or locked), with the names advisories may use for it. */
export interface AuditPackage {
  readonly name: string;
  readonly version: string;
  /** Other names from the recipe's `[audit] names`. */
  readonly aliases?: readonly string[];
  /** The recipe's `[audit] cpe` (`cpe:2.3:a:VENDOR:PRODUCT`). */
  readonly cpe?: string;
  /** Where it is: profile names, `lock:PROFILE`, or host names. */
  readonly where: readonly string[];
}

export interface Finding {
  readonly name: string;
  readonly version: string;
  readonly id: string;
  readonly aliases: readonly string[];
  readonly severity: Severity;
  readonly score?: number;
  readonly summary: string;
  /** The first version that is not affected, when the advisory says so. */
  readonly fixed?: string;
  readonly url?: string;
  readonly source: string;
  readonly where: readonly string[];
}

/** An accepted risk from ferry.toml's `[audit] ignore`. */
export interface Ignore {
  readonly id: string;
  readonly reason: string;
  /** `YYYY-MM-DD`: the ignore applies through the end of that day (UTC), then stops. */
  readonly until: string;
}
