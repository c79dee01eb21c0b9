import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel, largestFirst, turnsLargestFirst } from './parallel.js';

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

test('largestFirst runs at most n at once and starts the waiting ones largest first', async () => {
  const limit = largestFirst(2);
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const task = (size: number) =>
    limit(size, async () => {
      started.push(size);
      most = Math.max(most, ++running);
      await tick(5);
      running--;
      return size;
    });
  const out = await Promise.all([1, 2, 5, 3, 9, 5, 4].map(task));
  assert.deepEqual(out, [1, 2, 5, 3, 9, 5, 4]);
  assert.equal(most, 2);
  // The first two take the free slots as they come; then the largest waiting (equal sizes: first come first).
  assert.deepEqual(started, [1, 2, 9, 5, 5, 4, 3]);
});

test('largestFirst frees a slot when a task fails', async () => {
  const limit = largestFirst(1);
  await assert.rejects(
    limit(1, () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await limit(1, () => Promise.resolve('next')), 'next');
});

test('turnsLargestFirst lets one waiter in per turn of the event loop, largest first', async () => {
  const turn = turnsLargestFirst();
  const log: string[] = [];
  // Each task, once let in, takes two more steps (awaits of settled promises): all of them before the next
  // task is let in, however many are waiting.
  const task = async (size: number) => {
    await turn(size);
    log.push(`${size} in`);
    await Promise.resolve();
    log.push(`${size} step`);
    await Promise.resolve();
    log.push(`${size} done`);
  };
  await Promise.all([3, 7, 1, 7].map(task));
  assert.deepEqual(log, [
    ...['7 in', '7 step', '7 done'],
    ...['7 in', '7 step', '7 done'],
    ...['3 in', '3 step', '3 done'],
    ...['1 in', '1 step', '1 done'],
  ]);
  // Still works after the queue ran empty.
  await task(2);
  assert.deepEqual(log.slice(-3), ['2 in', '2 step', '2 done']);
});
