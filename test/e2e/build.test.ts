import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSandbox, writeRecipe, writeSource, type Sandboxed } from '../helpers/cli.js';

const script = (body: string) =>
  `[[source]]\npath = "src"\n[build]\nsystem = "script"\nscript = '''\n${body}\n'''\n`;
const withDeps = (run: string[], body: string, build: string[] = []) =>
  `${script(body)}[depends]\nrun = ${JSON.stringify(run)}\nbuild = ${JSON.stringify(build)}\n`;

async function recipe(tree: string, name: string, version: string, body: string): Promise<void> {
  await writeRecipe(tree, name, version, body);
  await writeSource(tree, name, 'src', { README: `${name} ${version}\n` });
}

function storePathOf(stdout: string, name: string): string {
  const line = stdout.split('\n').find((l) => new RegExp(`-${name}-[^/]*$`).test(l));
  assert.ok(line, `no store path for ${name} in:\n${stdout}`);
  return line.split(/\s+/).pop() ?? '';
}

describe('the build sandbox', () => {
  let sb: Sandboxed;
  let tree: string;
  let server: Server;
  let port: number;
  before(async () => {
    sb = makeSandbox();
    tree = join(sb.dir, 'ports');
    server = createServer((_req, res) => res.end('host-only'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    await fs.mkdir(join(sb.home, 'secret'), { recursive: true });
    await recipe(
      tree,
      'dep',
      '1.0',
      script('mkdir -p "$PREFIX/lib/pkgconfig" && echo dep > "$PREFIX/dep.txt"'),
    );
    await recipe(tree, 'unrelated', '1.0', script('echo u > "$PREFIX/u.txt"'));
    const probe = [
      'out="$PREFIX/probe.txt"',
      'echo "home=$(ls -A "$HOME" | wc -l)" > "$out"',
      'echo "usrlocal=$(ls -A /usr/local | wc -l)" >> "$out"',
      'echo "opt=$(ls -A /opt | wc -l)" >> "$out"',
      `echo "realhome=$(ls -A ${sb.home} 2>/dev/null | wc -l)" >> "$out"`,
      `echo "store=$(ls ${join(sb.root, 'store')} | sed 's/^[^-]*-//' | sort | tr '\\n' ' ')" >> "$out"`,
      `if (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null; then echo net=yes; else echo net=no; fi >> "$out"`,
      'if touch /etc/ferry-probe 2>/dev/null; then echo etc=writable; else echo etc=readonly; fi >> "$out"',
      'echo "leak=${FERRY_TEST_LEAK:-unset}" >> "$out"',
      'echo "pkgconfig=$PKG_CONFIG_PATH" >> "$out"',
      'echo "jobs=$JOBS" >> "$out"',
    ].join('\n');
    await recipe(tree, 'probe', '1.0', withDeps(['dep'], `#!/bin/bash\nexec bash <<'EOS'\n${probe}\nEOS`));
  });
  after(async () => {
    server.close();
    await sb.cleanup();
  });

  test('hides HOME, /usr/local, /opt, the network and undeclared store paths; host read-only; clean env', async () => {
    let r = await sb.ferry(['--ports', tree, 'build', 'unrelated']);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.ferry(['--ports', tree, 'build', 'probe', '-j', '2'], { env: { FERRY_TEST_LEAK: 'yes' } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const text = await fs.readFile(join(storePathOf(r.stdout, 'probe'), 'probe.txt'), 'utf8');
    const facts = Object.fromEntries(
      text
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(facts.home, '0');
    assert.equal(facts.usrlocal, '0');
    assert.equal(facts.opt, '0');
    assert.equal(facts.realhome, '0');
    assert.equal(
      facts.store?.trim(),
      'dep-1.0 probe-1.0',
      'only the declared dependency and the output are visible',
    );
    assert.equal(facts.net, 'no');
    assert.equal(facts.etc, 'readonly');
    assert.equal(facts.leak, 'unset');
    assert.match(facts.pkgconfig ?? '', /-dep-1\.0\/lib\/pkgconfig/);
    assert.match(facts.jobs ?? '', /^\d+$/);
  });

  test('refuses to build without namespaces unless --sandbox=off', async () => {
    await recipe(tree, 'plain', '1.0', script('echo plain > "$PREFIX/plain.txt"'));
    const env = { FERRY_BWRAP: '/nonexistent/bwrap' };
    let r = await sb.ferry(['--ports', tree, 'build', 'plain'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_SANDBOX_UNAVAILABLE/);
    assert.match(r.stderr, /--sandbox=off/);
    r = await sb.ferry(['--ports', tree, 'build', 'plain', '--sandbox=off'], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = storePathOf(r.stdout, 'plain');
    assert.equal(await fs.readFile(join(out, 'plain.txt'), 'utf8'), 'plain\n');
    const v = await sb.ferry(['verify']);
    assert.equal(v.code, 0, v.stdout);
  });
});

describe('post-build checks', () => {
  let sb: Sandboxed;
  let tree: string;
  before(() => {
    sb = makeSandbox();
    tree = join(sb.dir, 'ports');
  });
  after(async () => {
    await sb.cleanup();
  });

  test('a binary that picked up a host library fails the build, naming file, library, host path and fix', async () => {
    await writeRecipe(tree, 'zlib', '1.2.13', script('mkdir -p "$PREFIX/lib"'));
    await writeSource(tree, 'zlib', 'src', { README: 'stub\n' });
    await writeRecipe(
      tree,
      'hostz',
      '1.0',
      script('mkdir -p "$PREFIX/bin"\ncc -o "$PREFIX/bin/z" main.c -lz'),
    );
    await writeSource(tree, 'hostz', 'src', {
      'main.c': '#include <zlib.h>\nint main(void){return zlibVersion()[0]==0;}\n',
    });
    const r = await sb.ferry(['--ports', tree, 'build', 'hostz']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /E_BUILD_UNDECLARED_LIB/);
    assert.match(r.stdout, /bin\/z needs libz\.so\.1/);
    assert.match(r.stdout, /host's \/(usr\/)?lib\/x86_64-linux-gnu\/libz\.so\.1/);
    assert.match(r.stdout, /hint: declare it: add "zlib" to \[depends\] run/);
    const store = (await fs.readdir(join(sb.root, 'store'))).filter((n) => n.includes('hostz'));
    assert.deepEqual(store, [], 'nothing registered');
  });

  test('a library from a declared run dependency passes and gets an $ORIGIN run path', async () => {
    await writeRecipe(
      tree,
      'libdemo',
      '1.0',
      script(
        'mkdir -p "$PREFIX/lib" "$PREFIX/include"\ncc -shared -fPIC -Wl,-soname,libdemo.so.1 -o "$PREFIX/lib/libdemo.so.1" d.c\nln -s libdemo.so.1 "$PREFIX/lib/libdemo.so"\ncp d.h "$PREFIX/include/"',
      ),
    );
    await writeSource(tree, 'libdemo', 'src', {
      'd.c': 'int demo(void){return 7;}\n',
      'd.h': 'int demo(void);\n',
    });
    const app = withDeps(
      ['libdemo'],
      'mkdir -p "$PREFIX/bin"\ncc $CPPFLAGS -o "$PREFIX/bin/app" main.c $LDFLAGS -ldemo',
    );
    await writeRecipe(tree, 'app', '1.0', app);
    await writeSource(tree, 'app', 'src', {
      'main.c': '#include <d.h>\nint main(void){return demo()==7?0:1;}\n',
    });
    const r = await sb.ferry(['--ports', tree, 'build', 'app', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { built: { key: string; storePath: string }[] };
    const appPath = data.built.find((b) => b.key === 'app:0')?.storePath ?? '';
    const runpath = execFileSync('readelf', ['-d', join(appPath, 'bin', 'app')], { encoding: 'utf8' });
    assert.match(runpath, /RUNPATH.*\[\$ORIGIN\/\.\.\/\.\.\/[a-z0-9]{32}-libdemo-1\.0\/lib\]/);
    execFileSync(join(appPath, 'bin', 'app'));
    const meta = JSON.parse(
      await fs.readFile(join(sb.root, 'store', '.meta', `${appPath.split('/').pop() ?? ''}.json`), 'utf8'),
    ) as {
      platform: { arch: string; minGlibc: string };
      references: string[];
    };
    assert.equal(meta.platform.arch, 'x86_64');
    assert.match(meta.platform.minGlibc, /^2\.\d+$/);
    assert.equal(meta.references.length, 1);
  });

  test('a library only a build dependency provides is refused', async () => {
    await writeRecipe(
      tree,
      'app2',
      '1.0',
      withDeps([], 'mkdir -p "$PREFIX/bin"\ncc $CPPFLAGS -o "$PREFIX/bin/app" main.c $LDFLAGS -ldemo', [
        'libdemo',
      ]),
    );
    await writeSource(tree, 'app2', 'src', {
      'main.c': '#include <d.h>\nint main(void){return demo()==7?0:1;}\n',
    });
    const r = await sb.ferry(['--ports', tree, 'build', 'app2']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /E_BUILD_UNDECLARED_LIB.*needs libdemo\.so\.1/);
  });

  test('an output that embeds the build directory is refused', async () => {
    await writeRecipe(tree, 'leaky', '1.0', script('pwd > "$PREFIX/where-i-was-built"'));
    await writeSource(tree, 'leaky', 'src', { README: 'x\n' });
    const r = await sb.ferry(['--ports', tree, 'build', 'leaky']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /E_BUILD_LEAKS_BUILDDIR.*where-i-was-built/);
  });
});

describe('failures, parallelism and logs', () => {
  let sb: Sandboxed;
  let tree: string;
  before(async () => {
    sb = makeSandbox();
    tree = join(sb.dir, 'ports');
    await recipe(
      tree,
      'broken',
      '1.0',
      script('echo "compiling broken.c"\necho "broken.c:3: error: expected ;" >&2\nexit 2'),
    );
    await recipe(tree, 'needs-broken', '1.0', withDeps(['broken'], 'touch "$PREFIX/x"'));
    await recipe(tree, 'slow-a', '1.0', script('sleep 1\ntouch "$PREFIX/a"'));
    await recipe(tree, 'slow-b', '1.0', script('sleep 1\ntouch "$PREFIX/b"'));
  });
  after(async () => {
    await sb.cleanup();
  });

  test('a failed build shows its last lines and log path; dependents are skipped; --keep-going builds the rest', async () => {
    const r = await sb.ferry(['--ports', tree, 'build', '--keep-going', 'needs-broken', 'slow-a']);
    assert.equal(r.code, 3, 'partial success');
    assert.match(
      r.stdout,
      /FAILED broken:0 \[E_BUILD_FAILED\]: build of broken 1\.0 failed \(exit status 2\)/,
    );
    assert.match(r.stdout, /broken\.c:3: error: expected ;/);
    const log = /full log: (\S+)/.exec(r.stdout)?.[1];
    assert.ok(log);
    assert.match(await fs.readFile(log, 'utf8'), /compiling broken\.c/);
    assert.match(r.stdout, /FAILED needs-broken:0 \[E_BUILD_DEPFAILED\]/);
    assert.match(r.stdout, /built +\S+-slow-a-1\.0/);
  });

  test('independent builds run at the same time with -j 2', async () => {
    const r = await sb.ferry(['--ports', tree, 'build', '-j', '2', 'slow-b', 'needs-broken', '--json']);
    const events = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; text?: string; id: string });
    const order = events
      .filter((e) => e.event === 'start' || e.event === 'finish')
      .map((e) => `${e.event}:${e.id.split('-').slice(1).join('-')}`);
    const startSlow = order.indexOf('start:slow-b-1.0');
    const startBroken = order.indexOf('start:broken-1.0');
    const finishSlow = order.indexOf('finish:slow-b-1.0');
    assert.ok(startSlow >= 0 && startBroken >= 0 && finishSlow >= 0, order.join(' '));
    assert.ok(startBroken < finishSlow, `broken started while slow-b was running: ${order.join(' ')}`);
  });
});

describe('sources', () => {
  let sb: Sandboxed;
  let tree: string;
  let server: Server;
  let base: string;
  let tarball: Buffer;
  let sha: string;
  before(async () => {
    sb = makeSandbox();
    tree = join(sb.dir, 'ports');
    const src = join(sb.dir, 'tgz', 'tiny-1.0');
    await fs.mkdir(src, { recursive: true });
    await fs.writeFile(
      join(src, 'Makefile'),
      'all:\n\techo built > out.txt\ninstall:\n\tmkdir -p $(PREFIX)/share && cp out.txt $(PREFIX)/share/\n',
    );
    execFileSync('tar', ['-czf', join(sb.dir, 'tiny-1.0.tar.gz'), '-C', join(sb.dir, 'tgz'), 'tiny-1.0']);
    tarball = await fs.readFile(join(sb.dir, 'tiny-1.0.tar.gz'));
    sha = createHash('sha256').update(tarball).digest('hex');
    server = createServer((req, res) => {
      if (req.url === '/tiny-1.0.tar.gz') res.end(tarball);
      else if (req.url === '/bad-1.0.tar.gz') res.end(Buffer.concat([tarball, Buffer.from('x')]));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await sb.cleanup();
  });

  test('downloads by URL, verifies the sha256, keeps the file in distfiles', async () => {
    await writeRecipe(
      tree,
      'tiny',
      '1.0',
      `[[source]]\nurl = "${base}/tiny-1.0.tar.gz"\nsha256 = "${sha}"\n[build]\nsystem = "make"\n`,
    );
    const r = await sb.ferry(['--ports', tree, 'build', 'tiny']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(
      await fs.readFile(join(storePathOf(r.stdout, 'tiny'), 'share', 'out.txt'), 'utf8'),
      'built\n',
    );
    assert.deepEqual(await fs.readFile(join(sb.root, 'distfiles', 'tiny-1.0.tar.gz')), tarball);
  });

  test('a download with the wrong hash is an error that shows both hashes, and is not kept', async () => {
    await writeRecipe(
      tree,
      'bad',
      '1.0',
      `[[source]]\nurl = "${base}/bad-1.0.tar.gz"\nsha256 = "${sha}"\n[build]\nsystem = "make"\n`,
    );
    const r = await sb.ferry(['--ports', tree, 'build', 'bad']);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      new RegExp(`E_FETCH_HASH.*bad-1\\.0\\.tar\\.gz: expected sha256 ${sha}, got [0-9a-f]{64}`),
    );
    const left = await fs.readdir(join(sb.root, 'distfiles'));
    assert.ok(!left.some((n) => n.includes('bad')), left.join(' '));
  });

  test('offline: found by name in FERRY_DISTFILES; missing is a clear error', async () => {
    const dist = join(sb.dir, 'mirror');
    await fs.mkdir(dist);
    await fs.writeFile(join(dist, 'offline-1.0.tar.gz'), tarball);
    await writeRecipe(
      tree,
      'offline',
      '1.0',
      `[[source]]\nurl = "http://127.0.0.1:1/offline-1.0.tar.gz"\nsha256 = "${sha}"\n[build]\nsystem = "make"\n`,
    );
    let r = await sb.ferry(['--ports', tree, 'build', 'offline', '--offline'], {
      env: { FERRY_DISTFILES: dist },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await writeRecipe(
      tree,
      'missing',
      '1.0',
      `[[source]]\nurl = "http://127.0.0.1:1/missing-1.0.tar.gz"\nsha256 = "${sha}"\n[build]\nsystem = "make"\n`,
    );
    r = await sb.ferry(['--ports', tree, 'build', 'missing', '--offline'], {
      env: { FERRY_DISTFILES: dist },
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /E_FETCH_OFFLINE.*missing-1\.0\.tar\.gz/);
  });
});
