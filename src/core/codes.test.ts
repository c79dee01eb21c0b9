import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { codes } from './codes.js';

test('every error code is explained in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const missing = Object.keys(codes).filter((c) => !doc.includes(`| \`${c}\` |`));
  assert.deepEqual(missing, []);
});
