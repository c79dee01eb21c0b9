import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { examplePorts, makeSandbox, type Sandboxed } from '../helpers/cli.js';

const hello = (root: string, profile = 'default') =>
  execFileSync(join(root, 'profiles', profile, 'bin', 'hello'), { encoding: 'utf8' }).trim();

describe('profiles and generations', () => {
  let sb: Sandboxed;
  const ports = ['--ports', examplePorts];
  before(() => {
    sb = makeSandbox();
  });
  after(async () => {
    await sb.cleanup();
  });

  test('install builds the closure and makes generation 1', async () => {
    const r = await sb.ferry([...ports, 'install', 'hello < 2', 'libgreet < 2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /generation none → 1/);
    assert.equal(hello(sb.root), 'hello, world (libgreet 1.0)');
    assert.equal(await fs.readlink(join(sb.root, 'profiles', 'default')), 'default.d/1');
  });

  test('installing the same again is a no-op', async () => {
    const r = await sb.ferry([...ports, 'install', 'hello < 2', 'libgreet < 2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing to do/);
  });

  test('upgrade makes generation 2; diff shows both upgrades', async () => {
    const r = await sb.ferry([...ports, 'install', 'hello', 'libgreet', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { to: number; diff: { upgraded: { name: string }[] } };
    assert.equal(data.to, 2);
    assert.deepEqual(
      data.diff.upgraded.map((c) => c.name),
      ['hello', 'libgreet'],
    );
    assert.equal(hello(sb.root), 'HELLO, world! (libgreet 2.0)');
    const d = await sb.ferry(['diff', '1', '2']);
    assert.match(d.stdout, /↑ hello 1\.0 → 2\.0/);
    assert.match(d.stdout, /↑ libgreet 1\.0 → 2\.0/);
  });

  test('run executes inside an older generation without switching', async () => {
    const out = join(sb.dir, 'run-out');
    const r = await sb.ferry(['run', '--generation', '1', '--', 'sh', '-c', `hello > ${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fs.readFile(out, 'utf8')).trim(), 'hello, world (libgreet 1.0)');
    assert.equal(hello(sb.root), 'HELLO, world! (libgreet 2.0)');
  });

  test('generations lists both and marks the current one', async () => {
    const r = await sb.ferry(['generations']);
    assert.match(r.stdout, /^ +1 .*hello-1\.0/m);
    assert.match(r.stdout, /^\* +2 .*hello-2\.0/m);
  });

  test('rollback and switch --to move the profile atomically', async () => {
    let r = await sb.ferry(['rollback']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /generation 2 → 1/);
    assert.equal(hello(sb.root), 'hello, world (libgreet 1.0)');
    r = await sb.ferry(['switch', '--to', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hello(sb.root), 'HELLO, world! (libgreet 2.0)');
    r = await sb.ferry(['switch', '--to', '9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_PROFILE_GENERATION.*no generation 9/);
  });

  test('a named profile keeps its own versions beside the default one', async () => {
    const r = await sb.ferry([...ports, 'install', '--profile', 'legacy', 'hello < 2', 'libgreet < 2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hello(sb.root, 'legacy'), 'hello, world (libgreet 1.0)');
    assert.equal(hello(sb.root), 'HELLO, world! (libgreet 2.0)');
  });

  test('remove makes a new generation; removing what is absent is an error', async () => {
    let r = await sb.ferry([...ports, 'remove', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /- hello 2\.0 +REMOVED/);
    r = await sb.ferry([...ports, 'remove', 'hello']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_PROFILE_NOT_INSTALLED/);
  });

  test('gc keeps what generations need and deletes the rest', async () => {
    const before = (await fs.readdir(join(sb.root, 'store'))).filter((n) => !n.startsWith('.'));
    const r = await sb.ferry(['gc', '--keep', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { pathsRemoved: string[]; generationsRemoved: string[] };
    assert.ok(data.generationsRemoved.includes('default/1'));
    assert.ok(data.pathsRemoved.some((p) => p.endsWith('-hello-2.0')));
    const after = (await fs.readdir(join(sb.root, 'store'))).filter((n) => !n.startsWith('.'));
    assert.equal(after.length, before.length - data.pathsRemoved.length);
    assert.equal(hello(sb.root, 'legacy'), 'hello, world (libgreet 1.0)');
    const v = await sb.ferry(['verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('verify reports a modified store file', async () => {
    const store = join(sb.root, 'store');
    const id = (await fs.readdir(store)).find((n) => n.endsWith('-libgreet-2.0'));
    assert.ok(id);
    const file = join(store, id, 'include', 'greet.h');
    await fs.chmod(join(store, id, 'include'), 0o755);
    await fs.chmod(file, 0o644);
    await fs.appendFile(file, '/* tampered */\n');
    const r = await sb.ferry(['verify', '--json']);
    assert.equal(r.code, 1);
    const data = JSON.parse(r.stdout) as { problems: { kind: string; file: string }[] };
    assert.deepEqual(
      data.problems.map((p) => [p.kind, p.file]),
      [['modified', 'include/greet.h']],
    );
  });
});

describe('relocation', () => {
  test('after mv of the root, programs still run and relocate fixes embedded text paths', async () => {
    const sb = makeSandbox();
    try {
      const r = await sb.ferry(['--ports', examplePorts, 'install', 'hello']);
      assert.equal(r.code, 0, r.stderr);
      const moved = join(sb.dir, 'a', 'much', 'deeper', 'place', 'for', 'the', 'root');
      await fs.mkdir(join(moved, '..'), { recursive: true });
      await fs.rename(sb.root, moved);
      assert.equal(hello(moved), 'HELLO, world! (libgreet 2.0)');
      const cli = { ...sb, root: moved };
      const { runCli, ferryBin } = await import('../helpers/cli.js');
      const v = await runCli([ferryBin, '--root', moved, 'verify'], cli.env);
      assert.equal(v.code, 0, v.stdout);
      assert.match(v.stderr, /root was moved from .*run `ferry relocate`/);
      const rel = await runCli([ferryBin, '--root', moved, 'relocate'], cli.env);
      assert.equal(rel.code, 0, rel.stderr);
      const again = await runCli([ferryBin, '--root', moved, 'verify'], cli.env);
      assert.equal(again.code, 0, again.stdout);
      assert.doesNotMatch(again.stderr, /moved/);
    } finally {
      await sb.cleanup();
    }
  });
});
