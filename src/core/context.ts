import type { Reporter } from './reporter.js';

/** Everything a command needs from its surroundings, passed down explicitly (no singletons). */
export interface Context {
  readonly reporter: Reporter;
  /** Absolute path of the ferry root: store, profiles, distfiles, logs. */
  readonly rootDir: string;
  /** Ports trees in priority order (first match wins); the bundled tree is last. */
  readonly portsDirs: readonly string[];
  /** Extra directories searched for source archives by file name, before downloading. */
  readonly distfilesDirs: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}
