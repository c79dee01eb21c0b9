import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Replaced by scripts/bundle.mjs with a digest of everything bundled; absent when running tsc's output.
declare const FERRY_BUILD_ID: string | undefined;

/**
 * Which ferry this is, for results that a different ferry might compute differently (a recorded "nothing
 * to do"). The bundle carries a digest of its sources; tsc's output (tests, development) stands for itself by
 * its build info file, which every `tsc -b` that changes something rewrites. Undefined when neither is there:
 * then nothing may be reused.
 */
export function buildId(): string | undefined {
  if (typeof FERRY_BUILD_ID === 'string') return FERRY_BUILD_ID;
  try {
    const st = statSync(fileURLToPath(new URL('../.tsbuildinfo', import.meta.url)));
    return `tsc:${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether this is the bundle (dist/ferry-core.cjs) rather than tsc's output: files beside it differ. */
export function isBundled(): boolean {
  return typeof FERRY_BUILD_ID === 'string';
}
