import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import {
  examplePorts,
  ferryBin,
  makeSandbox,
  requireCapability,
  runCli,
  writeRecipe,
  writeSource,
  type Sandboxed,
} from '../helpers/cli.js';

/**
 * Build once on root A, publish to a cache directory, install the binaries on roots elsewhere (other paths,
 * other depths) from the directory, from `ferry cache serve` and from Debian's nginx serving the same
 * directory; and every way a package or an index can be refused.
 */
describe('binary packages and caches', () => {
  let sb: Sandboxed;
  let cache: string;
  let publicKey: string;
  const ports = ['--ports', examplePorts];
  const servers: ChildProcess[] = [];

  /** Another ferry root of this test, at `rel` below the test's directory. */
  const other = (rel: string) => {
    const root = join(sb.dir, rel);
    return (args: readonly string[]) => runCli([ferryBin, '--root', root, ...ports, ...args], sb.env);
  };
  const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

  before(async () => {
    sb = makeSandbox('ferry-binary-');
    cache = join(sb.dir, 'cache');
    const k = await sb.ferry(['keys', 'generate', 'builder-a', '--json']);
    assert.equal(k.code, 0, k.stderr);
    publicKey = String(json(k.stdout).publicKey);
    const b = await sb.ferry([...ports, 'install', 'hello']);
    assert.equal(b.code, 0, b.stderr);
    const p = await sb.ferry([...ports, 'cache', 'push', cache, 'hello', '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((json(p.stdout).packed as unknown[]).length, 2);
  });
  after(async () => {
    for (const s of servers) s.kill('SIGTERM');
    await sb.cleanup();
  });

  test('the cache is a static layout: a signed index and three files per package', async () => {
    const files = await fs.readdir(join(cache, 'pkg'));
    assert.equal(files.filter((f) => f.endsWith('.tar.gz')).length, 2);
    assert.equal(files.filter((f) => f.endsWith('.json.sig')).length, 2);
    const index = JSON.parse(await fs.readFile(join(cache, 'index.json'), 'utf8')) as {
      signatures: string[];
      signed: { version: number; expires: string };
    };
    assert.match(index.signatures[0] ?? '', /^builder-a:/);
    assert.equal(index.signed.version, 1);
    const again = await sb.ferry([...ports, 'cache', 'push', cache, 'hello', '--json']);
    assert.deepEqual(json(again.stdout).packed, []);
    assert.equal(json(again.stdout).version, 2);
  });

  test('an untrusted signer is refused, and the error says how to trust it', async () => {
    const b = other('untrusting/root');
    const r = await b(['cache', 'info', cache]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_SIG_UNTRUSTED.*signed by "builder-a"/);
    assert.match(r.stderr, /ferry keys trust builder-a:/);
    const n = await b(['install', '--substituter', cache, '--no-build', 'hello']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /E_CACHE_MISSING/);
  });

  test('from a directory, into a deeper root: installed without building, and it runs', async () => {
    const b = other('a/much/deeper/place/for/root-b');
    assert.equal((await b(['keys', 'trust', publicKey])).code, 0);
    const r = await b(['install', '--substituter', `file://${cache}`, '--no-build', 'hello', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const built = (json(r.stdout).build as { built: { status: string }[] }).built;
    assert.deepEqual(
      built.map((x) => x.status),
      ['substituted', 'substituted'],
    );
    const run = spawnSync(join(sb.dir, 'a/much/deeper/place/for/root-b/profiles/default/bin/hello'), []);
    assert.equal(run.status, 0, run.stderr.toString());
    assert.match(run.stdout.toString(), /HELLO|hello/i);
    const v = await b(['verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const noop = await b(['install', '--substituter', `file://${cache}`, 'hello']);
    assert.match(noop.stdout, /nothing to do/);
  });

  test('over HTTP from `ferry cache serve`, and from nginx serving the same directory', async () => {
    const url = await startFerryServe();
    const viaFerry = other('http-ferry');
    await viaFerry(['keys', 'trust', publicKey]);
    let r = await viaFerry(['install', '--substituter', url, '--no-build', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    const nginx = await startNginx();
    const viaNginx = other('http-nginx');
    await viaNginx(['keys', 'trust', publicKey]);
    r = await viaNginx(['install', '--substituter', nginx, '--no-build', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    const run = spawnSync(join(sb.dir, 'http-nginx/profiles/default/bin/hello'), []);
    assert.equal(run.status, 0);
  });

  test('over HTTPS: a certificate trusted through NODE_EXTRA_CA_CERTS installs; an untrusted one is refused at once', async () => {
    const { url, cert } = await startNginxTls();
    const env = { ...sb.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const client = (rel: string, extra: Record<string, string> = {}) => {
      const root = join(sb.dir, rel);
      return (args: readonly string[]) =>
        runCli([ferryBin, '--root', root, ...ports, ...args], { ...env, ...extra });
    };
    const trusting = client('https-trusting', { NODE_EXTRA_CA_CERTS: cert });
    await trusting(['keys', 'trust', publicKey]);
    let r = await trusting(['install', '--substituter', url, '--no-build', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(spawnSync(join(sb.dir, 'https-trusting/profiles/default/bin/hello'), []).status, 0);

    const untrusting = client('https-untrusting');
    await untrusting(['keys', 'trust', publicKey]);
    r = await untrusting(['cache', 'info', url]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /E_CACHE_TLS\]: https:\/\/127\.0\.0\.1:\d+\/index\.json: the server's certificate is not trusted here \(self[- ]signed certificate\)/,
    );
    assert.match(r.stderr, /hint: .*NODE_EXTRA_CA_CERTS=/);
    r = await untrusting(['install', '--substituter', url, '--no-build', 'hello']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /warning \[E_CACHE_TLS\].*not using this cache\n\s+hint: .*NODE_EXTRA_CA_CERTS=/);
    const store = await fs.readdir(join(sb.dir, 'https-untrusting', 'store')).catch(() => []);
    assert.deepEqual(
      store.filter((f) => !f.startsWith('.')),
      [],
    );
  });

  test('config.toml http-timeout: a cache server that never answers is given up on, naming URL and wait', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => sockets.push(sock.on('error', () => undefined)));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const addr = silent.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    const root = join(sb.dir, 'timeout-root');
    const config = join(root, 'etc', 'config.toml');
    await fs.mkdir(join(root, 'etc'), { recursive: true });
    try {
      await fs.writeFile(config, `substituters = ["${url}"]\nhttp-timeout = 1\n`);
      const r = await other('timeout-root')(['cache', 'info', url]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`E_CACHE_UNREACHABLE.*${url}/index.json: the server sent nothing for 1 s`),
      );
      await fs.writeFile(config, `substituters = ["${url}"]\nhttp-timeout = "30s"\n`);
      const bad = await other('timeout-root')(['cache', 'info', url]);
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr,
        /E_CONFIG_FIELD.*config\.toml:2:\d+: field http-timeout: expected a whole number of seconds/,
      );
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('a corrupted archive or an altered manifest is never installed', async () => {
    const dir = join(sb.dir, 'tampered');
    await fs.cp(cache, dir, { recursive: true });
    const pkg = join(dir, 'pkg');
    const manifests = (await fs.readdir(pkg)).filter((f) => f.endsWith('.json')).sort();
    const lib = manifests.find((f) => f.includes('-libgreet-')) ?? '';
    const archive = join(pkg, lib.replace(/\.json$/, '.tar.gz'));
    const original = await fs.readFile(archive);
    const bytes = Buffer.from(original);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await fs.writeFile(archive, bytes);
    const b = other('tampered-root');
    await b(['keys', 'trust', publicKey]);
    let r = await b(['unpack', join(pkg, lib)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_PKG_HASH|E_ARCHIVE_CORRUPT/);
    // A well-formed archive with other content: the file that differs is named, with both hashes.
    // Of the signed size (zero padding after the gzip member is allowed), so a download reaches the extractor.
    const altered = gzipSync(alterFirstFile(gunzipSync(original)), { level: 9 });
    assert.ok(altered.length <= original.length, 'the altered archive fits in the signed size');
    await fs.writeFile(archive, Buffer.concat([altered, Buffer.alloc(original.length - altered.length)]));
    r = await b(['unpack', join(pkg, lib)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_PKG_HASH/);
    assert.match(r.stderr, /has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    // The same over HTTP: the URL, the file and both hashes.
    const url = await startFerryServe(dir);
    r = await b(['install', '--substituter', url, '--no-build', 'hello']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /E_PKG_HASH.*http:\/\/[0-9.]+:\d+\/pkg\/\S+\.tar\.gz: \S+ has sha256 [0-9a-f]{64}, the manifest says/,
    );
    const m = JSON.parse(await fs.readFile(join(pkg, lib), 'utf8')) as { summary: string };
    m.summary = 'changed';
    await fs.writeFile(join(pkg, lib), JSON.stringify(m, null, 1) + '\n');
    r = await b(['unpack', join(pkg, lib)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_SIG_INVALID/);
    r = await b(['install', '--substituter', dir, '--no-build', 'hello']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_CACHE_DOWNLOAD|E_SIG_INVALID/);
    assert.equal(
      (await fs.readdir(join(sb.dir, 'tampered-root', 'store'))).filter((f) => !f.startsWith('.')).length,
      0,
    );
  });

  test('an older index than one seen (rollback) and an expired index (freeze) are refused', async () => {
    const dir = join(sb.dir, 'replayed');
    await fs.cp(cache, dir, { recursive: true });
    const old = await fs.readFile(join(dir, 'index.json'));
    const c = other('replay-client');
    await c(['keys', 'trust', publicKey]);
    assert.equal((await sb.ferry([...ports, 'cache', 'push', dir, 'hello'])).code, 0);
    const seen = await c(['cache', 'info', dir, '--json']);
    assert.equal(seen.code, 0, seen.stderr);
    const version = Number(json(seen.stdout).version);
    // An install remembers the version too (written while it extracts).
    const i = other('replay-installer');
    await i(['keys', 'trust', publicKey]);
    const installed = await i(['install', '--substituter', dir, '--no-build', 'hello']);
    assert.equal(installed.code, 0, installed.stderr);
    await fs.writeFile(join(dir, 'index.json'), old);
    for (const client of [c, i]) {
      const r = await client(['cache', 'info', dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`E_CACHE_ROLLBACK.*has seen version ${version}`));
    }
    assert.equal((await sb.ferry([...ports, 'cache', 'push', dir, 'hello', '--valid-days', '0'])).code, 0);
    await new Promise((ok) => setTimeout(ok, 20));
    const fresh = other('freeze-client');
    await fresh(['keys', 'trust', publicKey]);
    const e = await fresh(['cache', 'info', dir]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /E_CACHE_EXPIRED/);
  });

  test('cache push: repairs a package missing a file, removes leftovers, and stops on what it cannot read', async () => {
    const push = (dest: string, ...more: string[]) =>
      sb.ferry([...ports, 'cache', 'push', dest, 'hello', ...more]);
    const dir = join(sb.dir, 'repaired');
    await fs.cp(cache, dir, { recursive: true });
    const sig = (await fs.readdir(join(dir, 'pkg'))).find((f) => f.endsWith('.json.sig')) ?? '';
    await fs.rm(join(dir, 'pkg', sig));
    await fs.writeFile(join(dir, 'pkg', '.tmp-x.tar.gz-0123456789ab'), 'left by a killed push');
    await fs.writeFile(join(dir, '.tmp-index.json-0123456789ab'), '{');
    let r = await push(dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((json(r.stdout).packed as unknown[]).length, 1, 'the package without its signature, again');
    assert.ok((await fs.readdir(join(dir, 'pkg'))).includes(sig));
    const left = [...(await fs.readdir(dir)), ...(await fs.readdir(join(dir, 'pkg')))].filter((f) =>
      f.startsWith('.tmp-'),
    );
    assert.deepEqual(left, []);

    // An index that cannot be read is not taken for none (that would restart at version 1): nothing is packed.
    const unreadable = join(sb.dir, 'unreadable');
    await fs.mkdir(join(unreadable, 'index.json'), { recursive: true });
    r = await push(unreadable);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_CACHE_UNREACHABLE.*unreadable\/index\.json: cannot read the cache's index/);
    assert.deepEqual(await fs.readdir(join(unreadable, 'pkg')), []);

    const file = join(sb.dir, 'a-file');
    await fs.writeFile(file, '');
    r = await push(file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /E_CACHE_UNREACHABLE.*a-file: cannot make the cache here/);

    r = await push(join(sb.dir, 'never-made'), '--valid-days', '99999999');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /E_USAGE.*--valid-days expects at most 36500 days/);
  });

  test('an index over 64 MiB is refused unread, from a directory and over HTTP (endless data)', async () => {
    const dir = join(sb.dir, 'bloated');
    await fs.cp(cache, dir, { recursive: true });
    await fs.truncate(join(dir, 'index.json'), 64 * 1024 * 1024 + 1);
    const c = other('bloated-client');
    await c(['keys', 'trust', publicKey]);
    for (const url of [dir, await startFerryServe(dir)]) {
      const r = await c(['cache', 'info', url]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /E_CACHE_DOWNLOAD\]: \S+\/index\.json: more than 67108864 bytes, the most this file may have/,
      );
      assert.match(r.stderr, /hint: .*check that the URL is a ferry cache/);
    }
  });

  test(
    'a disk that fills mid-install: E_SYSTEM with the fix, nothing half-installed, and the command ends',
    { skip: requireCapability(process.getuid?.() === 0, 'root, to mount a small tmpfs') },
    async () => {
      const tree = join(sb.dir, 'ports-big');
      await writeSource(tree, 'big', 'src', { 'seed.txt': 'x\n' });
      const script = ['mkdir -p "$PREFIX/share"', 'yes 0123456789 | head -c 3000000 > "$PREFIX/share/blob"'];
      const q = '"""';
      await writeRecipe(
        tree,
        'big',
        '1.0',
        `[[source]]\npath = "src"\n[build]\nsystem = "script"\nscript = ${q}\n${script.join('\n')}\n${q}\n`,
      );
      const bigCache = join(sb.dir, 'cache-big');
      assert.equal((await sb.ferry(['--ports', tree, 'build', 'big'])).code, 0);
      assert.equal((await sb.ferry(['--ports', tree, 'cache', 'push', bigCache, 'big'])).code, 0);
      const small = join(sb.dir, 'small-disk');
      await fs.mkdir(small);
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
      assert.equal(mounted.status, 0, mounted.stderr.toString());
      try {
        const root = join(small, 'root');
        const c = (args: readonly string[]) =>
          runCli([ferryBin, '--root', root, '--ports', tree, ...args], sb.env);
        assert.equal((await c(['keys', 'trust', publicKey])).code, 0);
        const r = await c(['install', '--substituter', bigCache, '--no-build', 'big']);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /error \[E_SYSTEM\]: ENOSPC: no space left on device, write \(\S+\/store\/\.tmp-/,
        );
        assert.match(r.stderr, /hint: the file system is full/);
        const store = await fs.readdir(join(root, 'store'));
        assert.deepEqual(
          store.filter((f) => !f.startsWith('.') || f.startsWith('.tmp-')),
          [],
          'no store path, no extraction left behind',
        );
        assert.equal(await fs.stat(join(root, 'profiles', 'default')).catch(() => undefined), undefined);
      } finally {
        spawnSync('umount', [small]);
      }
    },
  );

  test('files that embed the building root are rewritten for the installing root', async () => {
    const tree = join(sb.dir, 'ports-where');
    await writeSource(tree, 'where', 'src', { 'data.txt': 'payload\n' });
    const script = [
      'mkdir -p "$PREFIX/bin" "$PREFIX/share"',
      'cp data.txt "$PREFIX/share/data.txt"',
      'printf \'#!/bin/sh\\ncat %s/share/data.txt\\n\' "$PREFIX" > "$PREFIX/bin/where"',
      'chmod 755 "$PREFIX/bin/where"',
    ].join('\n');
    await writeRecipe(
      tree,
      'where',
      '1.0',
      `[[source]]\npath = "src"\n[build]\nsystem = "script"\nscript = """\n${script}\n"""\n`,
    );
    const where = join(sb.dir, 'cache-where');
    assert.equal((await sb.ferry(['--ports', tree, 'build', 'where'])).code, 0);
    const p = await sb.ferry(['--ports', tree, 'cache', 'push', where, 'where']);
    assert.equal(p.code, 0, p.stderr);
    const rootC = join(sb.dir, 'elsewhere', 'c');
    const c = (args: readonly string[]) =>
      runCli([ferryBin, '--root', rootC, '--ports', tree, ...args], sb.env);
    await c(['keys', 'trust', publicKey]);
    const r = await c(['install', '--substituter', where, '--no-build', 'where']);
    assert.equal(r.code, 0, r.stderr);
    const run = spawnSync(join(rootC, 'profiles/default/bin/where'), []);
    assert.equal(run.stdout.toString(), 'payload\n', run.stderr.toString());
    const text = await fs.readFile(join(rootC, 'profiles/default/bin/where'), 'utf8');
    assert.ok(text.includes(rootC) && !text.includes(sb.root), text);
    assert.equal((await c(['verify'])).code, 0);
  });

  test('an exported profile runs wherever it is extracted', async () => {
    const out = join(sb.dir, 'app.tar.gz');
    const r = await sb.ferry(['export', '--profile', 'default', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    for (const where of ['x', 'y/much/deeper/down']) {
      const dir = join(sb.dir, 'extract', where);
      await fs.mkdir(dir, { recursive: true });
      const t = spawnSync('tar', ['-xzf', out, '-C', dir]);
      assert.equal(t.status, 0, t.stderr.toString());
      const a = spawnSync(join(dir, 'activate'), []);
      assert.equal(a.status, 0, a.stderr.toString());
      const run = spawnSync(join(dir, 'bin', 'hello'), []);
      assert.equal(run.status, 0, run.stderr.toString());
    }
  });

  async function startFerryServe(dir = cache): Promise<string> {
    const child = spawn(process.execPath, [ferryBin, 'cache', 'serve', dir, '--port', '0'], {
      env: sb.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.push(child);
    return new Promise((ok, fail) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /on (http:\/\/[0-9.]+:\d+)\//.exec(err);
        if (m?.[1] !== undefined) ok(m[1]);
      });
      child.on('exit', () => {
        fail(new Error(`ferry cache serve exited: ${err}`));
      });
    });
  }

  /** nginx over TLS, with a self-signed certificate for 127.0.0.1 made here; its URL and the certificate's file. */
  async function startNginxTls(): Promise<{ url: string; cert: string }> {
    const prefix = join(sb.dir, 'nginx-tls');
    await fs.mkdir(join(prefix, 'logs'), { recursive: true });
    const [cert, key] = [join(prefix, 'cert.pem'), join(prefix, 'key.pem')];
    const made = spawnSync('openssl', [
      ...[
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
      ],
      ...[
        '-subj',
        '/CN=ferry test cache',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
    ]);
    assert.equal(made.status, 0, made.stderr.toString());
    const port = 20000 + ((process.pid + 1) % 20000);
    const tmp = `${prefix}/tmp`;
    const conf = `daemon off; master_process off; worker_processes 1; error_log ${prefix}/logs/error.log; pid ${prefix}/nginx.pid;
events { worker_connections 64; }
http { access_log off; client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${port} ssl; ssl_certificate ${cert}; ssl_certificate_key ${key}; root ${cache}; } }
`;
    await fs.writeFile(join(prefix, 'nginx.conf'), conf);
    const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], {
      stdio: 'ignore',
    });
    servers.push(child);
    // Up when it accepts a TCP connection (a TLS request would need the certificate trusted).
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((ok) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          ok(true);
        }).on('error', () => {
          ok(false);
        });
      });
      if (up) return { url: `https://127.0.0.1:${port}`, cert };
      await new Promise((ok) => setTimeout(ok, 50));
    }
    throw new Error(
      `nginx (TLS) did not start: ${await fs.readFile(join(prefix, 'logs/error.log'), 'utf8').catch(() => '')}`,
    );
  }

  async function startNginx(): Promise<string> {
    const prefix = join(sb.dir, 'nginx');
    await fs.mkdir(join(prefix, 'logs'), { recursive: true });
    const port = 20000 + (process.pid % 20000);
    const conf = `daemon off; master_process off; worker_processes 1; error_log ${prefix}/logs/error.log; pid ${prefix}/nginx.pid;
events { worker_connections 64; }
http { access_log off; client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp; fastcgi_temp_path ${prefix}/tmp; uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;
  server { listen 127.0.0.1:${port}; root ${cache}; } }
`;
    await fs.writeFile(join(prefix, 'nginx.conf'), conf);
    const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], {
      stdio: 'ignore',
    });
    servers.push(child);
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${url}/index.json`)
          .then((r) => r.ok)
          .catch(() => false)
      )
        return url;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    throw new Error(
      `nginx did not answer on ${url}: ${await fs.readFile(join(prefix, 'logs/error.log'), 'utf8').catch(() => '')}`,
    );
  }
});

/** The tar with the first byte of its first non-empty regular file flipped; headers stay valid. */
function alterFirstFile(tar: Buffer): Buffer {
  const out = Buffer.from(tar);
  for (let at = 0; at + 512 <= out.length;) {
    const size = parseInt(
      out
        .toString('latin1', at + 124, at + 136)
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
    const type = out.toString('latin1', at + 156, at + 157);
    if ((type === '0' || type === '\0') && size > 0) {
      out[at + 512] = (out[at + 512] ?? 0) ^ 0xff;
      return out;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('no regular file in the archive');
}
