import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashTree } from './hashtree.js';
import { parseStoreId, type StoreMeta } from './meta.js';
import { Store } from './store.js';

async function staged(store: Store, name: string) {
  const id = parseStoreId(`${'a'.repeat(32)}-${name}-1.0`);
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
    references: [],
    buildInputs: [],
    platform: { os: 'linux', arch: 'x64' },
    files: await hashTree(tmpDir),
    rootPathFiles: [],
    embeddedRoot: store.rootDir,
    builtAt: '2026-11-27T00:00:00.000Z',
  };
  return { tmpDir, meta };
}

test('register: the path with its metadata, read-only, nothing temporary left, and verify finds it whole', async () => {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ferry-store-')));
  const paths = [await staged(store, 'one'), await staged(store, 'two')];
  for (const p of paths) await store.register(p.tmpDir, p.meta);
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

test('registerAll: a batch in dependency order, each with its metadata; a missing reference is named first', async () => {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ferry-store-')));
  const lib = await staged(store, 'lib');
  const app = await staged(store, 'app');
  const withRef = { ...app.meta, references: [lib.meta.id] };
  await assert.rejects(
    store.registerAll([{ tmpDir: app.tmpDir, meta: withRef, readOnly: false }]),
    (e: Error & { code?: string }) => e.code === 'E_STORE_PATH' && e.message.includes(lib.meta.id),
  );
  assert.deepEqual(store.missing([app.meta.id]), [app.meta.id]);
  await store.registerAll([
    { tmpDir: lib.tmpDir, meta: lib.meta, readOnly: false },
    { tmpDir: app.tmpDir, meta: withRef, readOnly: false },
  ]);
  assert.deepEqual(store.missing([lib.meta.id, app.meta.id]), []);
  assert.deepEqual((await store.readMeta(app.meta.id)).references, [lib.meta.id]);
  assert.deepEqual([...(await store.closure([app.meta.id]))].sort(), [app.meta.id, lib.meta.id].sort());
  assert.deepEqual((await store.verify()).problems, []);
});

test('register: without a sync command to make the path durable, it fails saying so, and registers nothing', async () => {
  const store = await Store.open(mkdtempSync(join(tmpdir(), 'ferry-store-')));
  const p = await staged(store, 'nosync');
  const path = process.env.PATH;
  process.env.PATH = mkdtempSync(join(tmpdir(), 'ferry-empty-path-'));
  try {
    await assert.rejects(
      store.register(p.tmpDir, p.meta),
      (e: Error & { code?: string; hint?: string }) =>
        e.code === 'E_SYSTEM' && e.message.includes('cannot run sync') && (e.hint ?? '').includes('PATH'),
    );
  } finally {
    process.env.PATH = path;
  }
  assert.deepEqual(store.missing([p.meta.id]), [p.meta.id]);
  assert.deepEqual(
    readdirSync(join(store.storeDir, '.meta')).filter((f) => f.startsWith('.tmp-')),
    [],
  );
});
