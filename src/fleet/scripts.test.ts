import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runStreaming } from '../platform/index.js';
import { ACTIVATE, RECEIVE } from './scripts.js';

// The host side is plain sh: these run the real scripts with the real /bin/sh, tar and gzip on a scratch root.
const base = mkdtempSync(join(tmpdir(), 'ferry-scripts-'));
after(() => {
  rmSync(base, { recursive: true, force: true });
});

function rootWithGenerations(name: string, gens: readonly number[], current: number): string {
  const root = join(base, name);
  for (const g of gens) mkdirSync(join(root, 'profiles', 'web.d', String(g)), { recursive: true });
  symlinkSync(`web.d/${current}`, join(root, 'profiles', 'web'));
  return root;
}

test('RECEIVE: a stream cut short fails, and nothing becomes visible', async () => {
  const root = join(base, 'cut');
  const id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x-1';
  const whole = gzipSync(Buffer.alloc(300_000, 7));
  const r = await runStreaming('/bin/sh', ['-c', RECEIVE, 'sh', root, 't1', 'web:1', id, '--'], {
    stdin: (async function* () {
      yield await Promise.resolve(whole.subarray(0, whole.length / 2));
    })(),
  });
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /gzip|cut short/);
  assert.ok(!existsSync(join(root, 'store', id)));
  assert.ok(!existsSync(join(root, 'profiles', 'web.d', '1')));
});

test('ACTIVATE: a target that does not exist switches nothing', async () => {
  const root = rootWithGenerations('bad-target', [1, 2], 1);
  mkdirSync(join(root, 'profiles', 'api.d', '1'), { recursive: true });
  symlinkSync('api.d/1', join(root, 'profiles', 'api'));
  const r = await runStreaming('/bin/sh', [
    '-c',
    ACTIVATE,
    'sh',
    root,
    't2',
    '',
    '5',
    'web',
    '2',
    'api',
    '9',
  ]);
  assert.equal(r.exitCode, 3);
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/1');
});

test('ACTIVATE: with the controller gone, a failing check still puts the link back', async () => {
  const root = rootWithGenerations('gone', [1, 2], 1);
  const child = spawn('/bin/sh', ['-c', ACTIVATE, 'sh', root, 't3', 'sleep 1; exit 1', '10', 'web', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  child.stderr.destroy();
  await new Promise((resolve) => child.on('close', resolve));
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/1');
});

test('ACTIVATE: a passing check keeps the new generation and reports the switch', async () => {
  const root = rootWithGenerations('ok', [1, 2], 1);
  const r = await runStreaming('/bin/sh', ['-c', ACTIVATE, 'sh', root, 't4', 'true', '10', 'web', '2']);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^switched web \d+ \d+\ncheck ok\n$/);
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/2');
});
