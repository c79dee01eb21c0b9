import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  examplePorts,
  makeSandbox,
  repoDir,
  runCli,
  writeRecipe,
  writeSource,
  type Sandboxed,
} from '../helpers/cli.js';

describe('the command line', () => {
  let sb: Sandboxed;
  before(() => {
    sb = makeSandbox();
  });
  after(async () => {
    await sb.cleanup();
  });

  test('--help teaches: commands, global options, a start', async () => {
    const r = await sb.ferry(['--help']);
    assert.equal(r.code, 0);
    for (const word of [
      'install',
      'rollback',
      'generations',
      'run',
      'gc',
      'verify',
      'relocate',
      'recipe check',
      '--root',
      '--ports',
      '--json',
    ])
      assert.ok(r.stdout.includes(word), word);
    const sub = await sb.ferry(['install', '--help']);
    assert.match(sub.stdout, /Usage: ferry install/);
    assert.match(sub.stdout, /--keep-going/);
  });

  test('usage errors exit 2 and say what to do', async () => {
    let r = await sb.ferry(['instal', 'zlib']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_USAGE.*unknown command "instal"/);
    r = await sb.ferry(['install', '--frobnicate', 'zlib']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --frobnicate for "ferry install"/);
    r = await sb.ferry(['build', '-j', 'many', 'zlib']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--jobs expects a whole number/);
  });

  test('global options work after the command; --json gives one document, errors included', async () => {
    const r = await sb.ferry(['generations', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { profile: 'default', generations: [] });
    const e = await sb.ferry(['install', 'no-such-package', '--json']);
    assert.equal(e.code, 1);
    const err = (JSON.parse(e.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'E_RECIPE_NOT_FOUND');
  });

  test('ports trees layer: --ports before FERRY_PORTS before the bundled tree, first match wins', async () => {
    const over = join(sb.dir, 'overlay');
    await writeRecipe(
      over,
      'libgreet',
      '1.0',
      '[[source]]\npath = "src"\n[build]\nsystem = "script"\nscript = \'mkdir -p "$PREFIX/share" && echo overlay > "$PREFIX/share/which"\'\n',
    );
    await writeSource(over, 'libgreet', 'src', { README: 'overlay\n' });
    const r = await sb.ferry(['--ports', over, 'build', 'libgreet = 1.0'], {
      env: { FERRY_PORTS: examplePorts },
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const path = r.stdout.trim().split(/\s+/).pop() ?? '';
    assert.equal(await fs.readFile(join(path, 'share', 'which'), 'utf8'), 'overlay\n');
    const v2 = await sb.ferry(['--ports', over, 'build', 'libgreet'], { env: { FERRY_PORTS: examplePorts } });
    assert.match(v2.stdout, /-libgreet-2\.0/, 'versions from all trees are candidates');
  });

  test('recipe check validates the bundled trees and reports every error with file:line:column', async () => {
    let r = await sb.ferry(['recipe', 'check', join(repoDir, 'ports'), examplePorts]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /7 recipe\(s\) checked, 0 error\(s\)/);
    const bad = join(sb.dir, 'bad');
    await writeRecipe(bad, 'a', '1.0', 'summary = 3\n');
    await writeRecipe(bad, 'b', '1.0', '[depends]\nrun = ["c >=="]\n');
    await fs.mkdir(join(bad, 'c'));
    await fs.writeFile(join(bad, 'c', '2.0.toml'), 'name = "c"\nversion = "2.0\n');
    r = await sb.ferry(['recipe', 'check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /a\/1\.0\.toml:3:11: field summary: expected a string, found number 3/);
    assert.match(r.stdout, /b\/1\.0\.toml:4:\d+: field depends\.run\[0\]/);
    assert.match(r.stdout, /c\/2\.0\.toml:2:\d+: /);
    assert.match(r.stdout, /3 recipe\(s\) checked, 3 error\(s\)/);
  });

  test('concurrent ferry processes building the same paths both succeed, one build each', async () => {
    const other = makeSandbox();
    try {
      const args = ['--ports', examplePorts, 'build', 'hello'];
      const [a, b] = await Promise.all([other.ferry(args), other.ferry(args)]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const builtLines = (a.stdout + b.stdout).split('\n').filter((l) => l.startsWith('built'));
      assert.equal(builtLines.length, 2, 'hello and libgreet built once in all');
      const v = await other.ferry(['verify']);
      assert.equal(v.code, 0, v.stdout);
    } finally {
      await other.cleanup();
    }
  });

  test('demo passes again in the same root: it rolls back to where its upgrade started', async () => {
    const root = join(sb.dir, 'demo-root');
    for (let run = 1; run <= 2; run++) {
      const r = await sb.ferry(['--root', root, 'demo', '--json']);
      assert.equal(r.code, 0, `run ${run}: ${r.stderr}`);
      const d = JSON.parse(r.stdout) as { v1: string; rolledBack: string; load: { failures: number } };
      assert.equal(d.rolledBack, d.v1, `run ${run}`);
      assert.equal(d.load.failures, 0);
    }
  });

  test('dist/ferry.cjs, the bundled command users run, is built from these sources and finds its ports', async () => {
    const bundle = join(repoDir, 'dist', 'ferry.cjs');
    const cache = join(sb.dir, 'code-cache');
    const env = { ...sb.env, XDG_CACHE_HOME: cache };
    const [a, b, c] = await Promise.all([
      runCli([bundle, '--help'], env),
      runCli([join(repoDir, 'dist', 'main.js'), '--help'], sb.env),
      runCli([join(repoDir, 'dist', 'ferry.js'), '--help'], sb.env),
    ]);
    assert.equal(a.stdout, b.stdout, 'npm run build (tsc -b, then scripts/bundle.mjs) makes both');
    assert.equal(c.stdout, b.stdout, 'dist/ferry.js runs the same bundle');
    const root = join(sb.dir, 'bundle-root');
    const r = await runCli([bundle, '--root', root, 'install', 'zlib', '--offline'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match((await fs.readdir(join(root, 'store'))).join(' '), /-zlib-/);
    // One V8 code cache per command word, written at the first run of each (see scripts/launcher.cjs).
    const caches = (await fs.readdir(join(cache, 'ferry', 'code'))).sort();
    assert.deepEqual(
      caches.map((f) => f.split('.').slice(-2).join('.')),
      ['install.bin', 'none.bin'],
    );
    const again = await runCli([bundle, '--root', root, 'install', 'zlib', '--offline'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do/);
    // CVSS v4 scoring loads its library from the bundle's node_modules on first use.
    const advisory = join(sb.dir, 'v4.json');
    await fs.writeFile(
      advisory,
      JSON.stringify({
        schema_version: '1.6.0',
        id: 'TEST-V4-1',
        modified: '2025-01-01T00:00:00Z',
        severity: [
          { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' },
        ],
        affected: [
          {
            package: { ecosystem: 'Debian', name: 'zlib' },
            ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }],
          },
        ],
      }),
    );
    const audit = await runCli([bundle, '--root', root, 'audit', '--advisories', advisory, '--json'], env);
    assert.equal(audit.code, 1, audit.stderr);
    const findings = (
      JSON.parse(audit.stdout) as { findings: { id: string; severity: string; score: number }[] }
    ).findings;
    assert.deepEqual(
      findings.map((f) => [f.id, f.severity, f.score]),
      [['TEST-V4-1', 'critical', 9.3]],
    );
  });
});
