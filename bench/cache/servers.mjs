// @ts-check
/**
 * HTTP servers on loopback for the binary cache benchmark: `ferry cache serve`, and Debian's nginx with a
 * private configuration. Each runs as a child of the benchmark with its output in a log file (never a pipe:
 * the benchmark blocks in spawnSync while timing, and a full pipe would stall the server), and is stopped by
 * its own pid at the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (asked of the kernel). @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/**
 * A background server process. `url` answers once `ready()` resolves.
 */
export class Server {
  /**
   * @param {string} name @param {string} file @param {string[]} args @param {string} logFile @param {string} url
   * @param {NodeJS.ProcessEnv} [env]
   */
  constructor(name, file, args, logFile, url, env = process.env) {
    this.name = name;
    this.url = url;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    this.child = spawn(file, args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    /** @type {number | null} */
    this.exitCode = null;
    this.child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal === null ? -1 : 128);
    });
  }

  /** Waits until GET `path` answers (any HTTP status), or fails after `timeoutMs`. */
  async ready(path = '/', timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitCode !== null)
        throw new Error(`${this.name} exited (${this.exitCode}); see ${this.logFile}`);
      try {
        const r = await fetch(new URL(path, this.url));
        await r.arrayBuffer();
        return r.status;
      } catch {
        if (Date.now() > until) throw new Error(`${this.name} did not answer ${this.url} in ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  }

  /** Stops the server by its pid (nginx's master stops its workers on SIGTERM) and waits for it to exit. */
  async stop() {
    if (this.exitCode !== null || this.child.pid === undefined) return;
    const exited = new Promise((res) => this.child.once('exit', res));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

const findNginx = () => ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);

/**
 * Installs Debian's nginx-light with apt-get when no nginx is there. Its package starts the system's nginx
 * service; that one is left alone (the benchmark's nginx has its own configuration and ports). Returns a note
 * on what was done, or throws. @param {(s: string) => void} log
 */
export function ensureNginx(log) {
  if (findNginx() !== undefined) return undefined;
  log('nginx is missing: installing Debian’s nginx-light with apt-get');
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'nginx-light'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0 || findNginx() === undefined)
    throw new Error(
      `apt-get install nginx-light failed: ${r.stderr?.toString().trim().split('\n').slice(-3).join(' / ')}`,
    );
  return 'installed nginx-light with apt-get';
}

/**
 * nginx serving each of `roots` (directory → port) statically on 127.0.0.1, with every path nginx writes
 * (pid, logs, temp directories) under `dir`. Runs in the foreground (`daemon off`) as the benchmark's child.
 * The workers run as root: the work directory is mode 0700, so nginx's default `nobody` could not read it.
 * @param {string} dir @param {{ root: string, port: number }[]} roots
 */
export function startNginx(dir, roots) {
  const bin = findNginx();
  if (bin === undefined) throw new Error('nginx is not installed');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(dir, 'tmp', t)};`)
    .join('\n');
  const servers = roots
    .map((r) => `  server {\n    listen 127.0.0.1:${r.port};\n    root ${r.root};\n  }`)
    .join('\n');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
user root;
worker_processes 2;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')};
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { application/json json; application/gzip gz; text/plain narinfo sig; }
  default_type application/octet-stream;
${temps}
${servers}
}
`,
  );
  const version = spawnSync(bin, ['-v']).stderr.toString().trim();
  const args = ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')];
  return {
    version,
    server: new Server('nginx', bin, args, join(dir, 'stdout.log'), `http://127.0.0.1:${roots[0].port}`),
  };
}
