import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { examplePorts, makeSandbox, writeRecipe, writeSource, type Sandboxed } from '../helpers/cli.js';

describe('projects: ferry.toml, ferry.lock, plan, switch, why, update', () => {
  let sb: Sandboxed;
  let manifest: string;
  let lockFile: string;
  let ferry: (args: string[]) => ReturnType<Sandboxed['ferry']>;
  const hello = (profile: string) =>
    execFileSync(join(sb.root, 'profiles', profile, 'bin', 'hello'), { encoding: 'utf8' }).trim();

  before(async () => {
    sb = makeSandbox();
    const dir = join(sb.dir, 'proj');
    await fs.mkdir(dir);
    manifest = join(dir, 'ferry.toml');
    lockFile = join(dir, 'ferry.lock');
    await fs.writeFile(
      manifest,
      `ports = ["overlay", ${JSON.stringify(examplePorts)}, "builtin"]\n\n[profiles.web]\npackages = ["hello"]\n\n[profiles.legacy]\npackages = ["hello < 2", "libgreet < 2"]\n`,
    );
    await fs.mkdir(join(dir, 'overlay'));
    ferry = (args) => sb.ferry([...args, '--manifest', manifest]);
  });
  after(async () => {
    await sb.cleanup();
  });

  test('lock writes a deterministic, sorted lock; locking again gives the same bytes', async () => {
    const r = await ferry(['lock']);
    assert.equal(r.code, 0, r.stderr);
    const first = await fs.readFile(lockFile, 'utf8');
    assert.match(first, /^formatVersion = 1$/m);
    assert.ok(first.indexOf('name = "legacy"') < first.indexOf('name = "web"'), 'profiles sorted');
    assert.match(first, /version = "1\.0"[^]*version = "2\.0"/);
    await ferry(['lock']);
    assert.equal(await fs.readFile(lockFile, 'utf8'), first);
  });

  test('switch --profile builds the locked packages; two profiles hold different versions side by side', async () => {
    let r = await ferry(['switch', '--profile', 'web']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    r = await ferry(['switch', '--profile', 'legacy']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(hello('web'), 'HELLO, world! (libgreet 2.0)');
    assert.equal(hello('legacy'), 'hello, world (libgreet 1.0)');
  });

  test('why shows the chain from the manifest line', async () => {
    const r = await ferry(['why', 'libgreet', '--profile', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ferry\.toml:4: profile web requests hello\n +→ hello depends on libgreet 2\.0/);
    const missing = await ferry(['why', 'zlib', '--profile', 'web']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /E_WHY_NOT_FOUND/);
  });

  test('a changed library shows up as rebuilt reverse dependencies, with the reason', async () => {
    const overlay = join(sb.dir, 'proj', 'overlay');
    const src = await fs.readFile(join(examplePorts, 'libgreet', '2.0.toml'), 'utf8');
    await fs.mkdir(join(overlay, 'libgreet'), { recursive: true });
    await fs.writeFile(
      join(overlay, 'libgreet', '2.0.toml'),
      src.replace('system = "make"', 'system = "make"\nenv = { CFLAGS = "-O1" }'),
    );
    await fs.cp(join(examplePorts, 'libgreet', 'src-2.0'), join(overlay, 'libgreet', 'src-2.0'), {
      recursive: true,
    });
    let r = await ferry(['plan', '--profile', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /E_LOCK_STALE.*libgreet 2\.0 changed since it was locked/);
    assert.match(r.stdout, /rebuilt \(2\):/);
    assert.match(r.stdout, /~ hello 2\.0 +dependency libgreet changed/);
    assert.match(r.stdout, /~ libgreet 2\.0 +recipe changed/);
    r = await ferry(['plan', '--profile', 'web', '--json']);
    const plan = JSON.parse(r.stdout) as { rebuilt: { name: string }[]; removed: unknown[] };
    assert.deepEqual(
      plan.rebuilt.map((e) => e.name),
      ['hello', 'libgreet'],
    );
    assert.deepEqual(plan.removed, []);
    await fs.rm(join(overlay, 'libgreet'), { recursive: true });
  });

  test('a removal must be seen and confirmed: plan shows REMOVED, switch refuses without --yes', async () => {
    await fs.writeFile(
      manifest,
      (await fs.readFile(manifest, 'utf8')).replace(
        'packages = ["hello < 2", "libgreet < 2"]',
        'packages = ["libgreet < 2"]',
      ),
    );
    let r = await ferry(['plan', '--profile', 'legacy']);
    assert.match(r.stdout, /REMOVED \(1\):\n +- hello 1\.0 +REMOVED: no longer requested by the manifest/);
    assert.match(r.stdout, /1 REMOVED/);
    r = await ferry(['switch', '--profile', 'legacy']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_PLAN_REMOVES.*REMOVE hello 1\.0/);
    assert.equal(hello('legacy'), 'hello, world (libgreet 1.0)', 'nothing changed');
    r = await ferry(['switch', '--profile', 'legacy', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(fs.access(join(sb.root, 'profiles', 'legacy', 'bin', 'hello')));
  });

  test('update NAME re-resolves only that package; the rest stays as locked', async () => {
    const overlay = join(sb.dir, 'proj', 'overlay');
    await writeRecipe(
      overlay,
      'libgreet',
      '3.0',
      '[[source]]\npath = "src-3.0"\n[build]\nsystem = "script"\nscript = \'mkdir -p "$PREFIX/lib"\'\n',
    );
    await writeSource(overlay, 'libgreet', 'src-3.0', { README: '3\n' });
    await writeRecipe(
      overlay,
      'hello',
      '2.1',
      '[[source]]\npath = "src-2.1"\n[depends]\nrun = ["libgreet >= 2.0"]\n[build]\nsystem = "script"\nscript = \'mkdir -p "$PREFIX/bin"\'\n',
    );
    await writeSource(overlay, 'hello', 'src-2.1', { README: '2.1\n' });
    let r = await ferry(['lock']);
    assert.match(r.stdout, /profile web: unchanged/, 'lock keeps what still fits');
    r = await ferry(['update', 'libgreet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /profile web: 2 change\(s\)\n +~ hello 2\.0 \(inputs changed\)\n +~ libgreet 2\.0 → 3\.0/,
    );
    assert.doesNotMatch(r.stdout, /hello 2\.0 → 2\.1/, 'hello stays locked at 2.0');
    r = await ferry(['update']);
    assert.match(r.stdout, /~ hello 2\.0 → 2\.1/);
  });

  test('manifest errors name file, line and field', async () => {
    await fs.writeFile(manifest, '[profiles.web]\npackages = ["hello"]\nopts = {}\n');
    const r = await ferry(['lock']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ferry\.toml:3:8: field profiles\.web\.opts: unknown field "opts"/);
  });
});
