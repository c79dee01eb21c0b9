import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { ferryBin, makeSandbox, repoDir, requireCapability, runCli } from '../helpers/cli.js';

const distfiles = process.env.FERRY_TEST_DISTFILES ?? join(repoDir, 'distfiles');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      req.on('error', reject);
      req.end();
    },
  );
}

const have =
  existsSync(join(distfiles, 'nginx-1.22.1.tar.gz')) && existsSync(join(distfiles, 'pcre2-10.42.tar.gz'));

test(
  "nginx, pcre2 and zlib from real sources serve a page after the root moves, linked to ferry's libraries",
  {
    skip: requireCapability(have, `distfiles in ${distfiles} (run scripts/fetch-distfiles.sh)`),
    timeout: 20 * 60_000,
  },
  async (t) => {
    const sb = makeSandbox('ferry-nginx-');
    try {
      const started = Date.now();
      const r = await sb.ferry(['install', '--offline', 'nginx'], { env: { FERRY_DISTFILES: distfiles } });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      t.diagnostic(
        `install nginx (zlib + pcre2 + nginx from source, sandboxed): ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );

      const moved = join(sb.dir, 'elsewhere', 'ferry');
      await fs.mkdir(join(sb.dir, 'elsewhere'));
      await fs.rename(sb.root, moved);
      const nginx = join(moved, 'profiles', 'default', 'sbin', 'nginx');

      const real = await fs.realpath(nginx);
      const ldd = execFileSync('ldd', [real], { encoding: 'utf8' });
      const lib = (name: string) => new RegExp(`${name}[^ ]* => (\\S+)`).exec(ldd)?.[1] ?? '';
      assert.ok(lib('libpcre2-8').startsWith(`${moved}/store/`), `pcre2 from ferry's store:\n${ldd}`);
      assert.ok(lib('libz').startsWith(`${moved}/store/`), `zlib from ferry's store:\n${ldd}`);
      assert.doesNotMatch(ldd, /not found/);

      const site = join(sb.dir, 'site');
      await fs.mkdir(join(site, 'conf'), { recursive: true });
      await fs.mkdir(join(site, 'logs'));
      await fs.mkdir(join(site, 'html'));
      await fs.writeFile(
        join(site, 'html', 'index.html'),
        `<h1>served by ferry's nginx</h1>\n${'padding '.repeat(200)}\n`,
      );
      await fs.copyFile(join(real, '..', '..', 'conf', 'mime.types'), join(site, 'conf', 'mime.types'));
      const port = await freePort();
      const user = process.getuid?.() === 0 ? 'user root;\n' : '';
      await fs.writeFile(
        join(site, 'conf', 'nginx.conf'),
        `${user}worker_processes 1;\nerror_log logs/error.log;\npid logs/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n include mime.types;\n access_log logs/access.log;\n gzip on; gzip_types text/html; gzip_min_length 10;\n server {\n  listen 127.0.0.1:${port};\n  root html;\n  location ~ ^/re/(?<word>[a-z]+)$ { return 200 "matched $word\\n"; }\n }\n}\n`,
      );
      const server = spawn(nginx, ['-p', `${site}/`, '-c', 'conf/nginx.conf', '-g', 'daemon off;'], {
        stdio: 'ignore',
      });
      try {
        let page: Awaited<ReturnType<typeof get>> | undefined;
        for (let i = 0; i < 100 && page === undefined; i++) {
          page = await get(port, '/').catch(async () => {
            await sleep(100);
            return undefined;
          });
        }
        assert.ok(page, 'nginx answered');
        assert.equal(page.status, 200);
        assert.match(page.body.toString(), /served by ferry's nginx/);
        const re = await get(port, '/re/pcre');
        assert.equal(re.body.toString(), 'matched pcre\n', 'regex location (pcre2)');
        const gz = await get(port, '/', { 'accept-encoding': 'gzip' });
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.match(gunzipSync(gz.body).toString(), /served by ferry's nginx/, 'gzip (zlib)');
      } finally {
        server.kill('SIGTERM');
        await new Promise((r) => server.on('close', r));
      }
      const v = await runCli([ferryBin, '--root', moved, 'verify'], sb.env);
      assert.equal(v.code, 0, v.stdout);
    } finally {
      await sb.cleanup();
    }
  },
);
