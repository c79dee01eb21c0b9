/**
 * `fn` over `items`, at most `limit` at a time, the results in the items' order. After a failure no new item
 * starts; the first failure is thrown once the running ones have ended (so no write is left in flight).
 */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, lane));
  const failure = lanes.find((r) => r.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return out;
}

/**
 * At most `n` of the given tasks run at once; waiting ones start largest first. When nearly all wait at once (as
 * packages do, found faster than they are extracted) the big ones go first, and parallel work ends close
 * together.
 */
export function largestFirst(n: number) {
  let running = 0;
  const waiting: Waiting[] = [];
  return async <T>(size: number, task: () => Promise<T>): Promise<T> => {
    // A task that ends hands its slot to the next one, so none can slip in between.
    if (running < n) running++;
    else
      await new Promise<void>((go) => {
        enqueue(waiting, size, go);
      });
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next === undefined) running--;
      else next.go();
    }
  };
}

/**
 * Turns handed out one per turn of the event loop, largest first: `await turn(size)` before a piece of
 * synchronous work. Many tasks doing such work side by side go in lockstep (each await lets all the others
 * take a step), so none finishes before all have; taking turns, the one let in runs on to its next real wait
 * first. (An install checks fifty manifests, ~0.7 ms each: in lockstep the first archive reached an extraction
 * worker 35 ms in, after every check.)
 */
export function turnsLargestFirst(): (size: number) => Promise<void> {
  const waiting: Waiting[] = [];
  let pumping = false;
  const pump = () => {
    waiting.shift()?.go();
    pumping = waiting.length > 0;
    if (pumping) setImmediate(pump);
  };
  return (size) =>
    new Promise<void>((go) => {
      enqueue(waiting, size, go);
      if (!pumping) setImmediate(pump);
      pumping = true;
    });
}

interface Waiting {
  readonly size: number;
  readonly go: () => void;
}

/** Into a list kept largest first; among equals, first come first served. */
function enqueue(waiting: Waiting[], size: number, go: () => void): void {
  const at = waiting.findIndex((w) => w.size < size);
  waiting.splice(at < 0 ? waiting.length : at, 0, { size, go });
}
