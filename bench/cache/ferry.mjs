// @ts-check
/**
 * The ferry side of the binary cache benchmark: its CLI (`dist/main.js`) run as a user runs it, one process per
 * command, each on its own root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import { Server } from './servers.mjs';
import { ferryEnv, pkgKey, timed, treeDigest } from './measure.mjs';

/**
 * Copies ferry's dist/ (with package.json, and links to node_modules, ports and examples) into `dir`, so that
 * one run uses one build even when dist/ is rebuilt while it runs. Returns the copy's main.js and the
 * revision it was built from (`git describe --always --dirty` of the checkout, when there is one).
 * @param {string} main path of dist/main.js @param {string} dir
 */
export function snapshotFerry(main, dir) {
  const pkg = dirname(dirname(main));
  cpSync(dirname(main), join(dir, 'dist'), { recursive: true });
  copyFileSync(join(pkg, 'package.json'), join(dir, 'package.json'));
  for (const l of ['node_modules', 'ports', 'examples'])
    if (existsSync(join(pkg, l))) symlinkSync(join(pkg, l), join(dir, l));
  const git = spawnSync('git', ['-C', pkg, 'describe', '--always', '--dirty']);
  return {
    main: join(dir, 'dist', basename(main)),
    revision: git.status === 0 ? git.stdout.toString().trim() : undefined,
  };
}

export class FerryCli {
  /** @param {string} main path of dist/main.js @param {string} ports the closure's ports tree */
  constructor(main, ports) {
    this.main = main;
    this.ports = ports;
    /** @type {string[]} extra build options (`--sandbox=off` when namespaces are unavailable) */
    this.buildOpts = [];
    this.env = ferryEnv();
  }

  /** @param {string} root @param {string[]} args */
  argv(root, args) {
    return [this.main, '--root', root, '--ports', this.ports, ...args];
  }

  /** Runs a command that must succeed; its stdout. @param {string} root @param {string[]} args */
  run(root, args) {
    const r = spawnSync(process.execPath, this.argv(root, args), { maxBuffer: 1 << 26, env: this.env });
    if (r.status !== 0)
      throw new Error(
        `ferry ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr.toString().trim()}\n${r.stdout.toString().trim()}`,
      );
    return r.stdout.toString();
  }

  /** Whether this build of ferry has the binary cache commands (`cache`, `keys`). */
  hasCacheCommands() {
    const r = spawnSync(process.execPath, [this.main, 'cache', 'push', '--help'], { env: this.env });
    const k = spawnSync(process.execPath, [this.main, 'keys', 'generate', '--help'], { env: this.env });
    return {
      ok: r.status === 0 && k.status === 0,
      output: `${r.stdout}${r.stderr}`.trim().split('\n').slice(0, 6).join('\n'),
    };
  }

  /**
   * Builds the closure (untimed fixture). Falls back to `--sandbox=off` only when ferry says the sandbox is
   * unavailable. @param {string} root @param {string} top
   */
  build(root, top) {
    const t = timed(process.execPath, this.argv(root, ['build', top]), { env: this.env });
    if (t.status !== 0 && /E_SANDBOX|namespace|bubblewrap/i.test(t.stderr)) {
      this.buildOpts = ['--sandbox=off'];
      const u = timed(process.execPath, this.argv(root, ['build', ...this.buildOpts, top]), {
        env: this.env,
      });
      if (u.status !== 0) throw new Error(`ferry build failed:\n${u.stderr.trim()}`);
      return {
        ms: u.ms,
        note: `ferry's sandbox is unavailable here: built with --sandbox=off (${t.stderr.trim()})`,
      };
    }
    if (t.status !== 0) throw new Error(`ferry build failed:\n${t.stderr.trim()}`);
    return { ms: t.ms, note: undefined };
  }

  /** The store paths of a root: `<name>-<version>` → absolute path. @param {string} root */
  storePaths(root) {
    const dir = join(root, 'store');
    const names = existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
    return new Map(names.map((n) => [pkgKey(n), join(dir, n)]));
  }

  /**
   * `keys generate NAME`: the public key line `NAME:BASE64` it prints (the last line of that shape).
   * @param {string} root @param {string} name
   */
  generateKey(root, name) {
    const out = this.run(root, ['keys', 'generate', name]);
    const line = out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[A-Za-z0-9._-]+:[A-Za-z0-9+/]+=*$/.test(l))
      .at(-1);
    if (line === undefined) throw new Error(`ferry keys generate printed no NAME:BASE64 line:\n${out}`);
    return line;
  }

  /** @param {string} root @param {string} key */
  trust(root, key) {
    this.run(root, ['keys', 'trust', key]);
  }

  /** `cache push DEST TOP`, timed. @param {string} root @param {string} dest @param {string} top */
  push(root, dest, top) {
    const t = timed(process.execPath, this.argv(root, ['cache', 'push', dest, top]), { env: this.env });
    if (t.status !== 0) throw new Error(`ferry cache push failed (exit ${t.status}):\n${t.stderr.trim()}`);
    return t.ms;
  }

  /**
   * The timed operation: `install --substituter URL --no-build TOP` on `root`. `--no-build` makes a cache miss
   * an error instead of a silent build, so every timed run is a pure substitution.
   * @param {string} root @param {string} url @param {string} top
   */
  install(root, url, top) {
    return timed(process.execPath, this.argv(root, ['install', '--substituter', url, '--no-build', top]), {
      env: this.env,
    });
  }

  /**
   * The floor under `install`: ferry's extractor alone in two worker threads over the cache's archives
   * (extract-floor.cjs), with no resolution, manifest, signature, record or profile. Each archive's tree lands
   * in `dst/<store path base name>`. @param {string} cacheDir @param {string} dst
   */
  extractOnly(cacheDir, dst) {
    const script = fileURLToPath(new URL('./extract-floor.cjs', import.meta.url));
    const extractor = join(dirname(this.main), 'ferry-extract.cjs');
    mkdirSync(dst, { recursive: true });
    return timed(process.execPath, [script, join(cacheDir, 'pkg'), dst, '2', extractor], { env: this.env });
  }

  /**
   * Checks extractOnly's output: one tree per closure member, each equal to the built one.
   * @param {string} dst @param {Map<string, string>} digests
   */
  verifyTrees(dst, digests) {
    const trees = new Map(readdirSync(dst).map((n) => [pkgKey(n), join(dst, n)]));
    return { ...compareTrees(trees, digests, 'tree'), packages: trees.size };
  }

  /** `cache serve DIR --port N` in the background. @param {string} dir @param {number} port @param {string} log */
  serve(dir, port, log) {
    return new Server(
      'ferry cache serve',
      process.execPath,
      [this.main, 'cache', 'serve', dir, '--port', String(port)],
      log,
      `http://127.0.0.1:${port}`,
      this.env,
    );
  }

  /**
   * Checks an installed root: it holds exactly the closure's store paths, each equal to the built tree
   * (`digests`: `<name>-<version>` → digest), nothing was built (no build logs), and the top program runs from the
   * default profile. Returns the problems found (none: []) and what was installed.
   * @param {string} root @param {Map<string, string>} digests @param {string} program
   */
  verify(root, digests, program) {
    const paths = this.storePaths(root);
    const { problems, files, bytes } = compareTrees(paths, digests, 'store path');
    const logs = join(root, 'var/log');
    if (existsSync(logs) && readdirSync(logs).some((n) => n.endsWith('.log')))
      problems.push(`something was built (logs in ${logs})`);
    try {
      const out = execFileSync(join(root, 'profiles/default/bin', program)).toString();
      if (!out.includes('ok')) problems.push(`${program} printed ${JSON.stringify(out)}`);
    } catch (e) {
      problems.push(`${program} from the profile did not run: ${String(e).split('\n')[0]}`);
    }
    return { problems, packages: paths.size, files, bytes };
  }
}

/**
 * Each wanted tree (`digests`: `<name>-<version>` → digest) against the one found under that key, and no others.
 * @param {Map<string, string>} found @param {Map<string, string>} digests @param {string} what
 */
function compareTrees(found, digests, what) {
  const problems = [];
  let files = 0;
  let bytes = 0;
  for (const [key, want] of digests) {
    const p = found.get(key);
    if (p === undefined) {
      problems.push(`${key} is missing`);
      continue;
    }
    const d = treeDigest(p);
    files += d.files;
    bytes += d.bytes;
    if (d.digest !== want) problems.push(`${key}: content differs from the built tree`);
  }
  for (const key of found.keys()) if (!digests.has(key)) problems.push(`unexpected ${what} ${key}`);
  return { problems, files, bytes };
}
