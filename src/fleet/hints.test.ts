import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StoreId } from '../store/index.js';
import { likelyMissing, readHint, writeHint } from './hints.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-hints-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});
const ids = (...names: string[]) => names.map((n) => `${n}-x-1.0` as StoreId);

test('a hint is read back for the same host and root only', async () => {
  const hint = { root: '/srv/a root', codec: 'zstd' as const, storeIds: ids('a', 'b') };
  await writeHint(root, 'web 1/"eu"', hint);
  assert.deepEqual(await readHint(root, 'web 1/"eu"', '/srv/a root'), hint);
  assert.equal(await readHint(root, 'web 1/"eu"', '/srv/other'), undefined);
  assert.equal(await readHint(root, 'web2', '/srv/a root'), undefined);
});

test('a damaged hint is no hint', async () => {
  await writeHint(root, 'h', { root: '/r', codec: 'gzip', storeIds: [] });
  const file = join(root, 'var', 'fleet-hosts', 'h.json');
  for (const text of ['{', '{"root":"/r","codec":"brotli","storeIds":[]}', '{"root":"/r","codec":"gzip"}']) {
    writeFileSync(file, text);
    assert.equal(await readHint(root, 'h', '/r'), undefined, text);
  }
});

test('what a host likely lacks: the closure minus what it had', () => {
  const hint = { root: '/r', codec: 'gzip' as const, storeIds: ids('a', 'b') };
  assert.deepEqual(likelyMissing(ids('a', 'c', 'b', 'd'), hint), ids('c', 'd'));
});
