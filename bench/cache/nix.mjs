// @ts-check
/**
 * The Nix side of the binary cache benchmark: Debian's nix-bin (2.8) as a single-user store private to the
 * benchmark, no daemon, no nixpkgs, no network substituters.
 *
 * - The source store lives under NIX_STORE_DIR/NIX_STATE_DIR/NIX_LOG_DIR in the work directory (nothing of
 *   /nix or /etc/nix is used: NIX_CONF_DIR points at a private nix.conf).
 * - Each timed copy goes into a fresh "chroot" store `local?root=DIR` (files under DIR/nix/store, database
 *   under DIR/nix/var), so every run starts from an empty store, like ferry's fresh root.
 * - The cache is signed with a key made by nix-store --generate-binary-cache-key, and the key is in
 *   trusted-public-keys, so Nix checks signatures on the way in, as ferry does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pkgKey, timed, treeDigest } from './measure.mjs';

/** @param {string} cmd */
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/**
 * Installs nix-bin with apt-get when `nix` is missing. Returns a note on what was done, or throws with the
 * reason Nix cannot be used.
 * @param {(s: string) => void} log
 */
export function ensureNix(log) {
  if (have('nix') && have('nix-store') && have('nix-build')) return undefined;
  log('nix is missing: installing Debian’s nix-bin with apt-get');
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'nix-bin'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0 || !have('nix'))
    throw new Error(
      `apt-get install nix-bin failed: ${r.stderr?.toString().trim().split('\n').slice(-3).join(' / ')}`,
    );
  return 'installed nix-bin with apt-get';
}

export class NixPeer {
  /** @param {string} dir the peer's private directory */
  constructor(dir) {
    this.dir = dir;
    for (const d of ['etc', 'home', 'xdg-cache']) mkdirSync(join(dir, d), { recursive: true });
    // build-users-group empty: single-user as root without the nixbld users. The sandbox is off because only
    // the untimed fixture build runs a builder (and the builder needs the host's /usr: openssl, awk).
    writeFileSync(
      join(dir, 'etc/nix.conf'),
      [
        'build-users-group =',
        'sandbox = false',
        'experimental-features = nix-command',
        'substituters =',
        'max-jobs = 2',
        'require-sigs = true',
        '',
      ].join('\n'),
    );
    /** @type {NodeJS.ProcessEnv} */
    this.env = {
      PATH: process.env.PATH,
      HOME: join(dir, 'home'),
      NIX_STORE_DIR: join(dir, 'store'),
      NIX_STATE_DIR: join(dir, 'var'),
      NIX_LOG_DIR: join(dir, 'log'),
      NIX_CONF_DIR: join(dir, 'etc'),
      XDG_CACHE_HOME: join(dir, 'xdg-cache'),
    };
    this.version = this.run('nix', ['--version']).trim();
  }

  /** @param {string} cmd @param {string[]} args @param {NodeJS.ProcessEnv} [env] */
  run(cmd, args, env = this.env) {
    return execFileSync(cmd, args, { env, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  /** Builds closure.nix (untimed fixture); returns the top store path and the closure's paths. @param {string} file */
  build(file) {
    const top = this.run('nix-build', [file, '--no-out-link']).trim().split('\n').at(-1) ?? '';
    const paths = this.run('nix-store', ['-qR', top]).trim().split('\n');
    return { top, paths };
  }

  /** A signing key; its public half becomes the only trusted key. */
  makeKey() {
    const secret = join(this.dir, 'cache.secret');
    const pub = join(this.dir, 'cache.public');
    this.run('nix-store', ['--generate-binary-cache-key', 'cb-bench-nix', secret, pub]);
    appendFileSync(
      join(this.dir, 'etc/nix.conf'),
      `trusted-public-keys = ${readFileSync(pub, 'utf8').trim()}\n`,
    );
    this.secret = secret;
  }

  /**
   * Fills a file:// binary cache with the closure, compressed with `compression`, signed.
   * @param {string} top @param {string} cacheDir @param {string} compression
   */
  push(top, cacheDir, compression) {
    const url = `file://${cacheDir}?compression=${compression}&secret-key=${this.secret}`;
    const t = timed('nix', ['copy', '--to', url, top], { env: this.env });
    if (t.status !== 0) throw new Error(`nix copy --to ${url} failed: ${t.stderr.trim()}`);
    return t.ms;
  }

  /**
   * The timed operation: `nix copy --from URL --to local?root=DST TOP`, the closure into a fresh store. A fresh
   * XDG_CACHE_HOME per destination, so an HTTP cache's .narinfo answers are not remembered across runs.
   * @param {string} from @param {string} dst @param {string} top @param {{ durable?: boolean }} [opts]
   */
  copy(from, dst, top, { durable = false } = {}) {
    mkdirSync(join(dst, 'xdg-cache'), { recursive: true });
    const args = ['copy', '--from', from, '--to', `local?root=${dst}`, top];
    const env = { ...this.env, XDG_CACHE_HOME: join(dst, 'xdg-cache') };
    // `durable`: then syncfs on the destination, inside the clock: what ferry's install does before it
    // registers anything (Nix 2.8 syncs no store path).
    if (!durable) return timed('nix', args, { env });
    return timed('sh', ['-c', 'nix "$@" && exec sync -f "$0"', dst, ...args], { env });
  }

  /**
   * Checks a copied closure: the destination store knows every path of it, `nix-store --verify-path` re-hashes
   * each against its recorded NAR hash, the trees equal the built ones (`digests`: `<name>-<version>` → digest), and the
   * top program runs. Returns the problems found (none: []).
   * @param {string} dst @param {string} top @param {Map<string, string>} digests @param {string} program
   */
  verify(dst, top, digests, program) {
    const store = `local?root=${dst}`;
    const problems = [];
    const paths = this.run('nix-store', ['--store', store, '-qR', top]).trim().split('\n');
    if (paths.length !== digests.size)
      problems.push(`closure has ${paths.length} paths, expected ${digests.size}`);
    const v = spawnSync('nix-store', ['--store', store, '--verify-path', ...paths], { env: this.env });
    if (v.status !== 0) problems.push(`nix-store --verify-path: ${v.stderr.toString().trim()}`);
    let files = 0;
    let bytes = 0;
    for (const p of paths) {
      const base = p.split('/').at(-1) ?? '';
      const d = treeDigest(join(dst, 'nix/store', base), ['nix-support']);
      files += d.files;
      bytes += d.bytes;
      if (d.digest !== digests.get(pkgKey(base)))
        problems.push(`${base}: content differs from the built tree`);
    }
    const topBase = top.split('/').at(-1) ?? '';
    const r = spawnSync(join(dst, 'nix/store', topBase, 'bin', program));
    if (r.status !== 0 || !r.stdout.toString().includes('ok'))
      problems.push(`${program} did not run: ${r.stderr?.toString().trim() ?? r.error}`);
    return { problems, packages: paths.length, files, bytes };
  }
}
