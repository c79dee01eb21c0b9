import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { recheck, signature, Witness } from './witness.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-witness-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

const old = new Date('2020-01-01T00:00:00Z');

/** File times tick with the kernel's clock (a few ms): changes in one tick look the same (that is `racy`). */
function nextTick(): void {
  const until = Date.now() + 25;
  while (Date.now() < until);
}

describe('Witness', () => {
  test('an absent path has the signature "-", and appearing changes it', () => {
    const p = join(work, 'absent');
    const w = new Witness();
    w.note(p);
    assert.deepEqual(w.entries(), [[p, '-', false]]);
    writeFileSync(p, 'x');
    assert.deepEqual(recheck(w.entries()), { changed: p, checked: 0 });
  });

  test('the same content at the same size, written again, is a change (mtime, ctime)', () => {
    const p = join(work, 'same-size');
    writeFileSync(p, 'aaaa');
    utimesSync(p, old, old);
    const w = new Witness();
    w.note(p);
    assert.deepEqual(recheck(w.entries()), { checked: 1 });
    nextTick();
    writeFileSync(p, 'bbbb');
    utimesSync(p, old, old); // the mtime put back: the ctime still tells
    assert.equal(recheck(w.entries()).changed, p);
  });

  test('a tree: every entry below is looked at; a file added deep down changes its directory', () => {
    const root = join(work, 'tree');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'a', 'b', 'f'), 'f');
    symlinkSync('a/b/f', join(root, 'link'));
    const w = new Witness();
    w.noteTree(root);
    assert.deepEqual(
      w.entries().map(([p, sig, followed]) => [p.slice(root.length), sig.slice(0, 1), followed]),
      [
        ['', 'd', true],
        ['/a', 'd', false],
        ['/a/b', 'd', false],
        ['/a/b/f', 'f', false],
        ['/link', 'l', false],
      ],
    );
    nextTick();
    writeFileSync(join(root, 'a', 'b', 'g'), 'g');
    assert.equal(recheck(w.entries()).changed, join(root, 'a', 'b'));
  });

  test('a source given as a symlink is followed, and pointing it elsewhere is a change', () => {
    for (const d of ['one', 'two']) mkdirSync(join(work, d));
    const link = join(work, 'src-link');
    symlinkSync('one', link);
    const w = new Witness();
    w.noteTree(link);
    assert.equal(w.entries()[0]?.[1], signature(join(work, 'one')));
    unlinkSync(link);
    symlinkSync('two', link);
    assert.equal(recheck(w.entries()).changed, link);
  });

  test('racy: a path changed within the margin of the look', () => {
    const p = join(work, 'fresh');
    writeFileSync(p, 'now');
    const w = new Witness();
    w.note(p);
    assert.equal(w.racy(), true, 'changed just now');
    assert.equal(w.racy(0), false, 'no margin');
    const aged = new Witness();
    aged.note(join(work, 'never-there'));
    assert.equal(aged.racy(), false, 'absent paths have no time');
  });
});
