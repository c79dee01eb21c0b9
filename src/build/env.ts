import type { BuildSystem } from '../recipe/index.js';

export interface BuildEnvInput {
  /** The install prefix as the build sees it (the final store path inside the sandbox). */
  readonly prefix: string;
  readonly buildDir: string;
  readonly jobs: number;
  /** Store paths of the declared dependencies (and their run-time closure), as the build sees them. */
  readonly inputs: readonly string[];
  readonly recipeEnv: Readonly<Record<string, string>>;
  readonly tmpDir: string;
}

const HOST_PATH = '/usr/bin:/bin:/usr/sbin:/sbin';

/**
 * A clean environment that exposes dependencies the way ordinary build systems look for them. Run paths point
 * at absolute store paths here; the post-build step rewrites them to `$ORIGIN`-relative ones.
 */
export function buildEnv(input: BuildEnvInput): Record<string, string> {
  const dirs = (sub: string) => input.inputs.map((p) => `${p}/${sub}`);
  const prefixMap = `-ffile-prefix-map=${input.buildDir}=.`;
  const base: Record<string, string> = {
    PATH: [...dirs('bin'), HOST_PATH].join(':'),
    PKG_CONFIG_PATH: [...dirs('lib/pkgconfig'), ...dirs('share/pkgconfig')].join(':'),
    CPPFLAGS: dirs('include')
      .map((d) => `-I${d}`)
      .join(' '),
    LDFLAGS: [
      ...dirs('lib').map((d) => `-L${d}`),
      ...[`${input.prefix}/lib`, ...dirs('lib')].map((d) => `-Wl,-rpath,${d}`),
      '-Wl,--enable-new-dtags',
    ].join(' '),
    CMAKE_PREFIX_PATH: input.inputs.join(';'),
    CFLAGS: '-O2',
    CXXFLAGS: '-O2',
    PREFIX: input.prefix,
    JOBS: String(input.jobs),
    HOME: `${input.buildDir}/.home`,
    TMPDIR: input.tmpDir,
    LANG: 'C',
    LC_ALL: 'C',
    TZ: 'UTC',
    SOURCE_DATE_EPOCH: '1',
    SHELL: '/bin/sh',
  };
  const env = { ...base, ...input.recipeEnv };
  // Whatever the recipe sets, debug info must not point into the build directory.
  env.CFLAGS = `${env.CFLAGS ?? ''} ${prefixMap}`.trim();
  env.CXXFLAGS = `${env.CXXFLAGS ?? ''} ${prefixMap}`.trim();
  return env;
}

/**
 * The shell program for a build system. Configure arguments arrive as "$@", never spliced into the text,
 * so nothing a recipe says is ever re-parsed by a shell.
 */
export function buildScript(system: BuildSystem, script: string | undefined): string {
  switch (system) {
    case 'autotools':
      return 'set -e\n./configure --prefix="$PREFIX" "$@"\nmake -j"$JOBS"\nmake install\n';
    case 'cmake':
      return [
        'set -e',
        'cmake -S . -B _ferry_build -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_LIBDIR=lib "$@"',
        'cmake --build _ferry_build -j"$JOBS"',
        'cmake --install _ferry_build',
        '',
      ].join('\n');
    case 'make':
      return 'set -e\nmake -j"$JOBS" PREFIX="$PREFIX" "$@"\nmake install PREFIX="$PREFIX" "$@"\n';
    case 'script':
      return `set -e\n${script ?? ''}\n`;
  }
}
