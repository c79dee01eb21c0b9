import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runDag } from './schedule.js';

const graph: Record<string, string[]> = {
  app: ['lib', 'tool'],
  lib: ['base'],
  tool: [],
  base: [],
  other: [],
};
const deps = (k: string) => graph[k] ?? [];

test('runs dependencies first and at most `jobs` at once', async () => {
  let running = 0;
  let peak = 0;
  const order: string[] = [];
  const r = await runDag(Object.keys(graph), { jobs: 2, keepGoing: false, deps }, async (k) => {
    running++;
    peak = Math.max(peak, running);
    await sleep(10);
    order.push(k);
    running--;
    return k.toUpperCase();
  });
  assert.equal(peak, 2);
  assert.ok(order.indexOf('base') < order.indexOf('lib'));
  assert.ok(order.indexOf('lib') < order.indexOf('app'));
  assert.deepEqual(r.get('app'), { status: 'done', value: 'APP' });
});

test('a failure skips only its dependents with keepGoing', async () => {
  const r = await runDag(Object.keys(graph), { jobs: 1, keepGoing: true, deps }, async (k) => {
    await sleep(1);
    if (k === 'base') throw new Error('boom');
    return k;
  });
  assert.equal(r.get('base')?.status, 'failed');
  assert.deepEqual(r.get('lib'), { status: 'skipped', because: 'base' });
  assert.deepEqual(r.get('app'), { status: 'skipped', because: 'lib' });
  assert.equal(r.get('tool')?.status, 'done');
  assert.equal(r.get('other')?.status, 'done');
});

test('without keepGoing nothing new starts after a failure', async () => {
  const started: string[] = [];
  const r = await runDag(['base', 'other', 'tool'], { jobs: 1, keepGoing: false, deps }, async (k) => {
    started.push(k);
    await sleep(1);
    if (k === 'base') throw new Error('boom');
    return k;
  });
  assert.deepEqual(started, ['base']);
  assert.equal(r.get('other')?.status, 'skipped');
});
