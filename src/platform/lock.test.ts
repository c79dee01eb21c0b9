import assert from 'node:assert/strict';
import { mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isAppError } from '../core/index.js';
import { FileLock } from './lock.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A pid no process has (above the kernel's pid_max of 2^22). */
const DEAD = 4_194_304 + 17;

test('a lock names its process, start time and host', async () => {
  const path = join(dir, 'mine');
  const lock = await FileLock.acquire(path);
  const [pid, start, host] = readlinkSync(path).split(' ');
  assert.equal(Number(pid), process.pid);
  assert.match(start ?? '', /^\d+$/);
  assert.equal(host, hostname());
  await lock.release();
});

test("a dead process's lock is taken over, whether it names this host or, from an older ferry, none", async () => {
  for (const [name, target] of [
    ['dead-here', `${DEAD} 123 ${hostname()}`],
    ['dead-old', `${DEAD} 123`],
  ] as const) {
    const path = join(dir, name);
    symlinkSync(target, path);
    const lock = await FileLock.acquire(path, { timeoutMs: 2000 });
    assert.equal(readlinkSync(path).split(' ')[0], String(process.pid));
    await lock.release();
  }
});

test("another host's lock is not broken (its pid means nothing here); the error says so and how to clear it", async () => {
  const path = join(dir, 'foreign');
  symlinkSync(`${DEAD} 123 build-9.example`, path);
  let waitedFor: number | undefined;
  await assert.rejects(
    FileLock.acquire(path, { timeoutMs: 100, onWait: (pid) => (waitedFor = pid) }),
    (e: unknown) =>
      isAppError(e) &&
      e.code === 'E_STORE_LOCKED' &&
      e.message === `${path} is held by process ${DEAD} on host build-9.example` &&
      (e.hint ?? '').includes(`remove ${path}`),
  );
  assert.equal(waitedFor, DEAD);
  assert.equal(readlinkSync(path), `${DEAD} 123 build-9.example`, 'left as it was');
});
