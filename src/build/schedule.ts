/** Outcome of one job in a dependency graph run. */
export type JobOutcome<T> =
  | { readonly status: 'done'; readonly value: T }
  | { readonly status: 'failed'; readonly error: unknown }
  | { readonly status: 'skipped'; readonly because: string };

export interface DagOptions<K> {
  readonly jobs: number;
  /** Without it the first failure stops new jobs from starting; running ones finish. */
  readonly keepGoing: boolean;
  readonly deps: (key: K) => readonly K[];
}

/**
 * Runs `work` for every key once all its dependencies are done, at most `jobs` at a time. A failure skips
 * only its dependents (and with keepGoing=false, everything not yet started).
 */
export async function runDag<K, T>(
  keys: readonly K[],
  options: DagOptions<K>,
  work: (key: K) => Promise<T>,
): Promise<Map<K, JobOutcome<T>>> {
  const results = new Map<K, JobOutcome<T>>();
  const pending = new Set(keys);
  const running = new Map<K, Promise<void>>();
  let stop = false;
  const ready = (k: K) =>
    options.deps(k).every((d) => results.get(d)?.status === 'done' || !keys.includes(d));
  const blocker = (k: K) =>
    options.deps(k).find((d) => keys.includes(d) && results.has(d) && results.get(d)?.status !== 'done');
  for (;;) {
    for (const k of [...pending]) {
      const b = blocker(k);
      if (b !== undefined || stop) {
        pending.delete(k);
        results.set(k, {
          status: 'skipped',
          because: b === undefined ? 'an earlier build failed' : String(b),
        });
        continue;
      }
      if (running.size >= options.jobs || !ready(k)) continue;
      pending.delete(k);
      running.set(
        k,
        work(k)
          .then(
            (value) => {
              results.set(k, { status: 'done', value });
            },
            (error: unknown) => {
              results.set(k, { status: 'failed', error });
              if (!options.keepGoing) stop = true;
            },
          )
          .finally(() => running.delete(k)),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  return results;
}
