import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { makeSandbox, repoDir, runCli, writeRecipe, writeSource, type Sandboxed } from '../helpers/cli.js';

// An install that would change nothing answers from what the previous one read (cli/up-to-date.ts), after one
// look at each path. These tests change each kind of input and check that the full way is taken then.
const script = (body: string, run: string[] = []) =>
  `[[source]]\npath = "src"\n[depends]\nrun = ${JSON.stringify(run)}\n[build]\nsystem = "script"\nscript = '''\n${body}\n'''\n`;

interface Change {
  changed: boolean;
  to?: number;
  checked?: number;
  build: { built: { key: string; storePath: string; status: string }[] };
}

describe('an install that changes nothing', () => {
  let sb: Sandboxed;
  let tree: string;
  const install = async (...names: string[]): Promise<Change> => {
    const r = await sb.ferry(['--ports', tree, 'install', ...names, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Change;
  };
  const record = () => join(sb.root, 'var', 'cache', 'up-to-date', 'default.json');

  before(async () => {
    sb = makeSandbox();
    tree = join(sb.dir, 'ports');
    await writeRecipe(
      tree,
      'lib',
      '1.0',
      script('mkdir -p "$PREFIX/lib" && cp README "$PREFIX/lib/lib.txt"'),
    );
    await writeSource(tree, 'lib', 'src', { README: 'lib 1.0\n' });
    await writeRecipe(
      tree,
      'app',
      '1.0',
      script('mkdir -p "$PREFIX/bin" && cp README "$PREFIX/bin/app"', ['lib']),
    );
    await writeSource(tree, 'app', 'src', { README: 'app 1.0\n' });
    // A path changed less than two seconds before it is read could change again unseen in the same clock tick:
    // no record is kept then. Let the tree age past that once.
    await sleep(2100);
  });
  after(async () => {
    await sb.cleanup();
  });

  test('answers from the record, with what the full way says', async () => {
    const first = await install('app');
    assert.equal(first.changed, true);
    const fast = await install('app');
    assert.equal(fast.changed, false);
    assert.equal(fast.to, 1);
    assert.ok(
      (fast.checked ?? 0) >= 6,
      `the recipes, source trees and directories were looked at: ${fast.checked}`,
    );
    await fs.rm(record());
    const full = await install('app');
    assert.equal(full.checked, undefined, 'no record: the full way');
    assert.deepEqual({ ...fast, checked: undefined }, { ...full, checked: undefined });
    assert.equal((await install('app')).checked, fast.checked, 'the full way wrote the record again');
  });

  // A record the next install answers from, then one change: the full way must be taken.
  const primed = async (): Promise<Change> => {
    await sleep(2100);
    await install('app');
    const r = await install('app');
    assert.ok(r.checked !== undefined, 'the record answers before the change');
    return r;
  };

  test('an edited local source file is seen, even at the same size', async () => {
    await primed();
    await fs.writeFile(join(tree, 'lib', 'src', 'README'), 'lib 1.1\n');
    const r = await install('app');
    assert.equal(r.checked, undefined);
    assert.equal(r.changed, true, 'lib and app get new store paths');
    const lib = r.build.built.find((b) => b.key.startsWith('lib'));
    assert.equal(await fs.readFile(join(lib?.storePath ?? '', 'lib', 'lib.txt'), 'utf8'), 'lib 1.1\n');
  });

  test('an edited recipe is seen', async () => {
    await primed();
    const recipe = join(tree, 'app', '1.0.toml');
    await fs.appendFile(recipe, "\n# a comment changes the recipe's hash\n");
    const r = await install('app');
    assert.equal(r.checked, undefined);
    assert.equal(r.changed, true);
  });

  test('a new file in a source tree is seen', async () => {
    await primed();
    await writeSource(tree, 'lib', 'src', { 'NEWS/1.1': 'new\n' });
    const r = await install('app');
    assert.equal(r.checked, undefined);
    assert.equal(r.changed, true);
  });

  test('a new version in the tree, another tree or another request takes the full way', async () => {
    await primed();
    await writeRecipe(tree, 'lib', '2.0', script('mkdir -p "$PREFIX/lib"'));
    assert.equal((await install('app')).checked, undefined);
    const other = join(sb.dir, 'other');
    await writeRecipe(other, 'lib', '3.0', script('mkdir -p "$PREFIX/lib"'));
    await writeSource(other, 'lib', 'src', { README: 'lib 3\n' });
    const r = await sb.ferry(['--ports', other, '--ports', tree, 'install', 'app', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Change).checked, undefined);
    const both = await install('app', 'lib');
    assert.equal(both.checked, undefined);
    assert.equal(both.changed, true);
  });

  // The answer costs little more than node's own start only while it loads nothing heavy: each of these is
  // milliseconds at every start (scripts/bundle.mjs loads them on first use). The bundle is what users run.
  test('the answer loads no heavy built-in module (the bundle, as users run it)', async () => {
    const probe = join(sb.dir, 'modules-probe.cjs');
    const loaded = join(sb.dir, 'modules.json');
    await fs.writeFile(
      probe,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(process.moduleLoadList)));\n`,
    );
    await sleep(2100);
    const bundle = (env: NodeJS.ProcessEnv = {}) =>
      runCli(
        [join(repoDir, 'dist', 'ferry.cjs'), '--root', sb.root, '--ports', tree, 'install', 'app', '--json'],
        { ...sb.env, ...env },
      );
    assert.equal((await bundle()).code, 0, 'the bundle writes its own record first');
    const r = await bundle({ NODE_OPTIONS: `--require ${probe}` });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as Change).checked !== undefined, 'answered from the record');
    const modules = new Set(JSON.parse(await fs.readFile(loaded, 'utf8')) as string[]);
    for (const m of [
      'fs/promises',
      'crypto',
      'zlib',
      'http',
      'https',
      'child_process',
      'stream',
      'worker_threads',
      'tty',
    ])
      assert.ok(!modules.has(`NativeModule ${m}`), `the answer loaded ${m}`);
  });

  test('a store path gone takes the full way, which puts it back', async () => {
    const ok = await primed();
    const app = ok.build.built.find((b) => b.key.startsWith('app'))?.storePath ?? '';
    execFileSync('chmod', ['-R', 'u+w', app]);
    await fs.rm(app, { recursive: true, force: true });
    const r = await install('app');
    assert.equal(r.checked, undefined);
    assert.equal(r.changed, false);
    await fs.access(join(app, 'bin', 'app'));
  });
});
