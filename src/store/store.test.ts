import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashTree } from './hashtree.js';
import { parseStoreId, type StoreId, type StoreMeta } from './meta.js';
import { Store } from './store.js';

async function prepared(store: Store, name: string, references: StoreId[] = []) {
  const id = parseStoreId(`${'a'.repeat(31)}${name.length}-${name}-1.0`);
  const tmpDir = await store.makeTempOut(id);
  await fs.mkdir(join(tmpDir, 'bin'));
  writeFileSync(join(tmpDir, 'bin', name), `#!/bin/sh\necho ${name}\n`, { mode: 0o755 });
  const meta: StoreMeta = {
    formatVersion: 1,
    id,
    name,
    version: '1.0',
    slot: '0',
    options: {},
    license: 'MIT',
    summary: 'test',
    recipeHash: '0'.repeat(64) as StoreMeta['recipeHash'],
    sourceHashes: [],
    references,
    buildInputs: [],
    platform: { os: 'linux', arch: 'x64' },
    files: await hashTree(tmpDir),
    rootPathFiles: [],
    embeddedRoot: store.rootDir,
    builtAt: '2026-11-27T00:00:00.000Z',
  };
  return store.prepare(tmpDir, meta);
}

test('prepare then registerAll: several paths at once, each with its metadata, read-only, nothing temporary left', async () => {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ferry-store-')));
  const paths = [await prepared(store, 'one'), await prepared(store, 'two'), await prepared(store, 'six')];
  await store.registerAll(paths);
  await store.registerAll([]);
  assert.deepEqual(store.missing(paths.map((p) => p.meta.id)), []);
  for (const p of paths) {
    assert.deepEqual(await store.readMeta(p.meta.id), p.meta);
    assert.equal(lstatSync(store.pathOf(p.meta.id)).mode & 0o777, 0o555);
  }
  assert.deepEqual((await store.verify()).problems, []);
  const left = [...readdirSync(store.storeDir), ...readdirSync(join(store.storeDir, '.meta'))];
  assert.deepEqual(
    left.filter((f) => f.startsWith('.tmp-')),
    [],
  );
});

test('unprepare removes the metadata of a path that was prepared and never registered, and only that', async () => {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ferry-store-')));
  const [kept, dropped] = [await prepared(store, 'kept'), await prepared(store, 'dropped')];
  await store.registerAll([kept]);
  await store.unprepare(kept.meta.id);
  await store.unprepare(dropped.meta.id);
  assert.deepEqual(await store.readMeta(kept.meta.id), kept.meta);
  await assert.rejects(store.readMeta(dropped.meta.id), { code: 'E_STORE_PATH' });
  assert.deepEqual(store.missing([kept.meta.id, dropped.meta.id]), [dropped.meta.id]);
});
