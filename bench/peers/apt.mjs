// @ts-check
/**
 * apt, kept off the machine's own state: a private configuration (APT_CONFIG) with an empty dpkg status, a
 * private cache and lists directory, no locking, Recommends off, and a single source: a local flat repository
 * (`file:` URI) holding the same `Packages` file the other tools read. Nothing of /etc/apt is read.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Writes the private configuration and runs `apt-get update` against it once (untimed: it builds apt's binary
 * cache, which every later apt process maps instead of re-parsing the text).
 * @param {string} packagesPath a plain-text `Packages` file
 * @param {string} [arch]
 */
export function setupApt(packagesPath, arch = 'amd64') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-apt-'));
  for (const d of [
    'etc/apt.conf.d',
    'etc/sources.list.d',
    'etc/preferences.d',
    'etc/trusted.gpg.d',
    'state/lists/partial',
    'cache/archives/partial',
    'log',
    'repo',
  ])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'state/status'), '');
  symlinkSync(resolve(packagesPath), join(dir, 'repo/Packages'));
  writeFileSync(join(dir, 'etc/sources.list'), `deb [trusted=yes allow-insecure=yes] file:${dir}/repo ./\n`);
  const conf = join(dir, 'apt.conf');
  writeFileSync(
    conf,
    [
      `Dir::Etc "${dir}/etc/";`,
      'Dir::Etc::main "apt.conf";',
      'Dir::Etc::parts "apt.conf.d";',
      'Dir::Etc::sourcelist "sources.list";',
      'Dir::Etc::sourceparts "sources.list.d";',
      'Dir::Etc::preferences "preferences";',
      'Dir::Etc::preferencesparts "preferences.d";',
      'Dir::Etc::trusted "trusted.gpg";',
      'Dir::Etc::trustedparts "trusted.gpg.d";',
      `Dir::State "${dir}/state/";`,
      'Dir::State::lists "lists/";',
      `Dir::State::status "${dir}/state/status";`,
      `Dir::Cache "${dir}/cache/";`,
      'Dir::Cache::pkgcache "pkgcache.bin";',
      'Dir::Cache::srcpkgcache "srcpkgcache.bin";',
      `Dir::Log "${dir}/log/";`,
      'Debug::NoLocking "1";',
      'APT::Sandbox::User "root";',
      `APT::Architecture "${arch}";`,
      `APT::Architectures { "${arch}"; };`,
      'APT::Install-Recommends "false";',
      'APT::Install-Suggests "false";',
      'Acquire::Languages "none";',
      'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, APT_CONFIG: conf, LC_ALL: 'C' };
  execFileSync('apt-get', ['-qq', 'update'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return {
    dir,
    env,
    version: execFileSync('apt-get', ['--version'], { env }).toString().split('\n')[0],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * One `apt-get -s install --no-install-recommends NAMES…` process: wall time, and the `Inst` lines read as
 * `name=version`.
 * @param {{ env: NodeJS.ProcessEnv }} apt
 * @param {readonly string[]} names
 */
export function aptGetSimulate(apt, names) {
  const t0 = performance.now();
  const r = spawnSync('apt-get', ['-s', 'install', '--no-install-recommends', ...names], {
    env: apt.env,
    maxBuffer: 1 << 28,
  });
  const ms = performance.now() - t0;
  const out = r.stdout.toString();
  const installed = [];
  for (const m of out.matchAll(/^Inst (\S+) \((\S+) /gm)) installed.push(`${m[1]}=${m[2]}`);
  const error =
    r.status === 0 ? undefined : (r.stderr.toString().trim() || out.trim()).split('\n').slice(-3).join(' ');
  return { ms, installed: installed.sort(), error };
}
