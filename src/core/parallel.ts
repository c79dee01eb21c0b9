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
