import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareGlibc } from './index.js';

describe('compareGlibc', () => {
  const rows: readonly (readonly [string, string, -1 | 0 | 1])[] = [
    ['2.34', '2.4', 1],
    ['2.4', '2.34', -1],
    ['2.17', '2.17', 0],
    ['2.2.5', '2.2', 1],
    ['2.2.5', '2.3', -1],
    ['2.3.4', '2.3.10', -1],
    ['2.4', '2.4.0', 0],
    ['2.04', '2.4', 0],
    ['3.0', '2.99', 1],
    ['2', '2.0.0', 0],
    ['2.100000000000000000001', '2.100000000000000000000', 1],
  ];
  for (const [a, b, want] of rows) {
    it(`${a} vs ${b} → ${want}`, () => {
      assert.equal(compareGlibc(a, b), want);
      assert.equal(compareGlibc(b, a), -want || 0);
    });
  }

  it('sorts real glibc versions in release order', () => {
    const shuffled = ['2.34', '2.2.5', '2.17', '2.3', '2.4', '2.3.4', '2.14', '2.28', '2.38'];
    const want = ['2.2.5', '2.3', '2.3.4', '2.4', '2.14', '2.17', '2.28', '2.34', '2.38'];
    assert.deepEqual([...shuffled].sort(compareGlibc), want);
  });

  for (const bad of ['', 'GLIBC_2.34', '2.x', '2..3', '.2', '2.3.', ' 2.3', 'PRIVATE']) {
    it(`rejects ${JSON.stringify(bad)} as a programming error`, () => {
      assert.throws(() => compareGlibc(bad, '2.3'), /Assertion failed: compareGlibc: not a glibc version/);
      assert.throws(() => compareGlibc('2.3', bad), /Assertion failed/);
    });
  }
});
