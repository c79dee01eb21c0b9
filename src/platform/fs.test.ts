import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { syncFileSystem } from './fs.js';

/** A `sync` first on PATH that logs its arguments and answers as `body` says, while `run` runs. */
async function withFakeSync(body: string, run: (log: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fake-sync-'));
  const log = join(dir, 'calls');
  writeFileSync(join(dir, 'sync'), `#!/bin/sh\necho "sync $*" >> '${log}'\n${body}\n`, { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  try {
    await run(log);
  } finally {
    process.env.PATH = path;
  }
}

test('syncFileSystem: coreutils sync -f on the directory', async () => {
  await syncFileSystem(mkdtempSync(join(tmpdir(), 'ferry-sync-')));
});

test('syncFileSystem: a sync without -f (coreutils before 8.24) is run again without it', async () => {
  const old = `case "$1" in -f) echo "sync: invalid option -- 'f'" >&2; exit 1;; esac; exit 0`;
  await withFakeSync(old, async (log) => {
    await syncFileSystem('/some/store');
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['sync -f /some/store', 'sync']);
  });
});

test('syncFileSystem: a write error fails, saying so, and is not papered over by a plain sync', async () => {
  const broken = `echo "sync: error syncing '$2': Input/output error" >&2; exit 1`;
  await withFakeSync(broken, async (log) => {
    await assert.rejects(
      syncFileSystem('/some/store'),
      (e: Error & { code?: string; hint?: string }) =>
        e.code === 'E_SYSTEM' &&
        e.message.includes('/some/store') &&
        e.message.includes('Input/output error') &&
        (e.hint ?? '').includes('dmesg'),
    );
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['sync -f /some/store']);
  });
});
