import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, fromSystemError } from './errors.js';

const sysError = (code: string, syscall: string, message: string, path?: string) =>
  Object.assign(new Error(message), { code, syscall, ...(path === undefined ? {} : { path }) });

test('a system error becomes E_SYSTEM with its path and what to do; other errors stay as they are', () => {
  const full = fromSystemError(
    sysError('ENOSPC', 'write', 'ENOSPC: no space left on device, write', '/r/store/x'),
  );
  assert.ok(full instanceof AppError);
  assert.equal(full.code, 'E_SYSTEM');
  assert.equal(full.message, 'ENOSPC: no space left on device, write (/r/store/x)');
  assert.match(full.hint ?? '', /file system is full/);
  assert.deepEqual(full.details, { errno: 'ENOSPC', syscall: 'write', path: '/r/store/x' });
  // Node's own message names the path already: not twice.
  const denied = fromSystemError(sysError('EACCES', 'open', "EACCES: permission denied, open '/x'", '/x'));
  assert.ok(denied instanceof AppError);
  assert.equal(denied.message, "EACCES: permission denied, open '/x'");
  assert.match(denied.hint ?? '', /permissions/);
  // An errno without advice still gets the code and the message, no hint.
  const other = fromSystemError(
    sysError('ENOENT', 'open', "ENOENT: no such file or directory, open '/y'", '/y'),
  );
  assert.ok(other instanceof AppError);
  assert.equal(other.hint, undefined);
  // A bug keeps its stack; an AppError is left alone.
  const bug = new TypeError('x is undefined');
  assert.equal(fromSystemError(bug), bug);
  const app = new AppError('E_USAGE', 'no');
  assert.equal(fromSystemError(app), app);
  assert.equal(fromSystemError('a string'), 'a string');
});
