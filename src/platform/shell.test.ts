import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStreaming, shCommand, shQuote } from './shell.js';

const HOSTILE = [
  '',
  ' ',
  "it's",
  '$(touch /tmp/ferry-never)',
  '`id`',
  'a; rm -rf /nonexistent-ferry',
  '"double" \'single\' \\back\\',
  'new\nline',
  '$HOME ${PATH} $* $@ $1',
  '-n',
  '*',
  '!event',
  'tab\there',
  '\u00e9t\u00e9 \u2603',
];

test('shQuote: every hostile string reaches the program as one unchanged argument, through a real sh', async () => {
  for (const shell of ['/bin/sh', '/bin/bash']) {
    const r = await runStreaming(shell, ['-c', `printf '%s\\0' ${HOSTILE.map(shQuote).join(' ')}`]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), HOSTILE, shell);
  }
});

test('shCommand: a script gets its data only as positional parameters, as a login shell would run it', async () => {
  const line = shCommand('printf "%s|" "$@"', HOSTILE);
  const r = await runStreaming('/bin/sh', ['-c', line]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.stdout.split('|').slice(0, -1), HOSTILE);
});

test('runStreaming: streamed stdin is counted; a process that stops reading ends the feed quietly', async () => {
  async function* chunks() {
    for (let i = 0; i < 64; i++) yield await Promise.resolve(Buffer.alloc(1 << 16, 97));
  }
  const all = await runStreaming('wc', ['-c'], { stdin: chunks() });
  assert.equal(all.stdout.trim(), String(64 << 16));
  assert.equal(all.bytesIn, 64 << 16);
  const early = await runStreaming('head', ['-c', '10'], { stdin: chunks() });
  assert.equal(early.exitCode, 0);
  assert.equal(early.stdout.length, 10);
});

test('runStreaming: an input that fails kills the process and the error surfaces', async () => {
  async function* failing() {
    yield await Promise.resolve(Buffer.from('x'));
    throw new Error('file changed');
  }
  await assert.rejects(runStreaming('cat', [], { stdin: failing() }), /file changed/);
});

test('runStreaming: a timeout kills the process', async () => {
  const r = await runStreaming('sleep', ['5'], { timeoutMs: 100 });
  assert.equal(r.timedOut, true);
});

test('runStreaming: a process that exits while its input is still coming does not hang the caller', async () => {
  async function* slow() {
    yield Buffer.alloc(1 << 20, 97);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 8; i++) yield Buffer.alloc(1 << 20, 97);
  }
  const r = await runStreaming('/bin/sh', ['-c', 'exit 3'], { stdin: slow() });
  assert.equal(r.exitCode, 3);
});
