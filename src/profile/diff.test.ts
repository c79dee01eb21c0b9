import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreId } from '../store/index.js';
import { diffPackages } from './diff.js';
import type { GenerationPackage } from './profile.js';

const pkg = (name: string, version: string, id: string, slot = '0'): GenerationPackage => ({
  name,
  version,
  slot,
  storeId: id as StoreId,
  options: {},
  requested: true,
});

test('classifies every kind of change by name:slot', () => {
  const a = [
    pkg('zlib', '1.2.13', 'z1'),
    pkg('pcre2', '10.42', 'p1'),
    pkg('nginx', '1.22.1', 'n1'),
    pkg('old', '1', 'o1'),
    pkg('py', '3.11', 'y1', '3.11'),
  ];
  const b = [
    pkg('zlib', '1.3', 'z2'),
    pkg('pcre2', '10.40', 'p2'),
    pkg('nginx', '1.22.1', 'n2'),
    pkg('new', '2', 'w2'),
    pkg('py', '3.11', 'y1', '3.11'),
    pkg('py', '2.7', 'y2', '2.7'),
  ];
  const d = diffPackages(a, b);
  assert.deepEqual(d.upgraded, [{ name: 'zlib', slot: '0', from: '1.2.13', to: '1.3' }]);
  assert.deepEqual(d.downgraded, [{ name: 'pcre2', slot: '0', from: '10.42', to: '10.40' }]);
  assert.deepEqual(d.rebuilt, [{ name: 'nginx', slot: '0', from: '1.22.1', to: '1.22.1' }]);
  assert.deepEqual(d.removed, [{ name: 'old', slot: '0', from: '1' }]);
  assert.deepEqual(
    d.added.map((c) => `${c.name}:${c.slot}`),
    ['new:0', 'py:2.7'],
  );
});
