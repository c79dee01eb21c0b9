import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel } from './parallel.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('inParallel keeps the items order and never runs more than the limit at once', async () => {
  let running = 0;
  let most = 0;
  const out = await inParallel([30, 5, 20, 1, 10, 2], 3, async (ms) => {
    most = Math.max(most, ++running);
    await tick(ms);
    running--;
    return ms * 2;
  });
  assert.deepEqual(out, [60, 10, 40, 2, 20, 4]);
  assert.equal(most, 3);
  assert.deepEqual(await inParallel([], 3, () => Promise.resolve(1)), []);
});

test('inParallel: after a failure nothing new starts, and it throws once the running ones have ended', async () => {
  const started: number[] = [];
  const ended: number[] = [];
  await assert.rejects(
    inParallel([0, 1, 2, 3, 4], 2, async (i) => {
      started.push(i);
      await tick(i === 0 ? 5 : 30);
      if (i === 0) throw new Error('item 0 failed');
      ended.push(i);
    }),
    /item 0 failed/,
  );
  assert.deepEqual(started, [0, 1], 'item 2 never started');
  assert.deepEqual(ended, [1], 'item 1 ran to its end before the failure was thrown');
});
