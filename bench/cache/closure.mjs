// @ts-check
/**
 * The synthetic closure of the binary cache benchmark: a ports tree of ferry recipes forming a dependency DAG,
 * and a Nix expression over the same seeds, so both tools build byte-identical trees with bench/cache/gen.sh.
 *
 * Everything is decided by a fixed pseudo-random sequence, so `--packages N --mb M` always gives the same
 * closure (same names, edges, sizes and bytes).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const VERSION = '1.0';
export const TOP = 'cb-top';

/** mulberry32: a small, well-mixed 32-bit generator; deterministic across machines. @param {number} seed */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @typedef {{ name: string, deps: string[], blobs: number[], text: number, small: number, seed: number,
 *             key: string }} Pkg
 */

/**
 * Plans `count` packages (the last is the top one) holding about `mb` MB (10^6 bytes) in all. Sizes are
 * skewed like real software (a few large libraries, many small packages): log-uniform over a 1:40 range.
 * Each package's bytes are 65% incompressible (1-3 blobs) and 35% text (one or two large files plus 30-90
 * small ones). Package i > 0 depends on 1-3 earlier ones; the top depends on every package nothing else
 * needs, so its closure is all of them.
 * @param {number} count
 * @param {number} mb
 * @returns {Pkg[]}
 */
export function planClosure(count, mb) {
  const rnd = prng(0x5eed_cafe);
  const int = (/** @type {number} */ n) => Math.floor(rnd() * n);
  const n = count - 1; // without the top
  const weights = Array.from({ length: n }, () => Math.exp(rnd() * Math.log(40)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const total = mb * 1e6 - 50_000; // the top package holds ~50 KB of text
  /** @type {Pkg[]} */
  const pkgs = [];
  const needed = new Set();
  for (let i = 0; i < n; i++) {
    const bytes = Math.max(200_000, Math.round((total * weights[i]) / sum));
    const deps = new Set();
    if (i > 0) for (let k = 1 + int(3); deps.size < Math.min(i, k);) deps.add(pkgs[int(i)].name);
    for (const d of deps) needed.add(d);
    const random = Math.round(bytes * 0.65);
    const parts = 1 + int(3);
    const blobs = Array.from({ length: parts }, (_, p) =>
      p < parts - 1 ? Math.floor(random / parts) : random - Math.floor(random / parts) * (parts - 1),
    );
    pkgs.push({
      name: `cb-p${String(i).padStart(2, '0')}`,
      deps: [...deps].sort(),
      blobs,
      text: bytes - random,
      small: 30 + int(61),
      seed: 1 + int(2147483645),
      key: Array.from({ length: 16 }, () => int(256).toString(16).padStart(2, '0')).join(''),
    });
  }
  pkgs.push({
    name: TOP,
    deps: pkgs.filter((p) => !needed.has(p.name)).map((p) => p.name),
    blobs: [],
    text: 50_000,
    small: 10,
    seed: 4242,
    key: '00'.repeat(16),
  });
  return pkgs;
}

/** Shell-sourceable parameters for gen.sh. @param {Pkg} p */
function params(p) {
  return [
    `NAME=${p.name}`,
    `VERSION=${VERSION}`,
    `KEY=${p.key}`,
    `BLOBS="${p.blobs.join(' ')}"`,
    `TEXT=${p.text}`,
    `SMALL=${p.small}`,
    `SEED=${p.seed}`,
    '',
  ].join('\n');
}

/**
 * Writes `<dir>/ports/<name>/1.0.toml` with its source directory `<dir>/ports/<name>/seed/` (gen.sh + params),
 * and `<dir>/closure.nix`, whose derivations run the same gen.sh on the same seed directories.
 * @param {string} dir
 * @param {Pkg[]} pkgs
 */
export function writeClosure(dir, pkgs) {
  for (const p of pkgs) {
    const seed = join(dir, 'ports', p.name, 'seed');
    mkdirSync(seed, { recursive: true });
    copyFileSync(join(here, 'gen.sh'), join(seed, 'gen.sh'));
    writeFileSync(join(seed, 'params'), params(p));
    writeFileSync(join(dir, 'ports', p.name, `${VERSION}.toml`), recipe(p));
  }
  writeFileSync(join(dir, 'closure.nix'), nixExpression(pkgs));
}

/** @param {Pkg} p */
function recipe(p) {
  return `name = "${p.name}"
version = "${VERSION}"
summary = "synthetic package of the binary cache benchmark"
license = "MIT"

[[source]]
path = "seed"

[depends]
run = [${p.deps.map((d) => `"${d}"`).join(', ')}]

[build]
system = "script"
script = "sh ./gen.sh"
`;
}

/**
 * One derivation per package, without nixpkgs. Nix learns run-time references only by finding dependency
 * paths in the output, so the builder adds nix-support/references (the dependencies' paths, one per line):
 * the only bytes the Nix tree has that ferry's lacks (ferry records references in its metadata).
 * @param {Pkg[]} pkgs
 */
function nixExpression(pkgs) {
  const id = (/** @type {string} */ name) => name.replace(/-/g, '_');
  const lines = [
    'let',
    '  pkg = name: src: deps: derivation {',
    '    inherit name src deps;',
    '    system = builtins.currentSystem;',
    '    builder = "/bin/sh";',
    '    PATH = "/usr/bin:/bin";',
    '    args = [ "-c" "cd $src && PREFIX=$out sh ./gen.sh && mkdir $out/nix-support && for d in $deps; do echo $d; done > $out/nix-support/references" ];',
    '  };',
  ];
  for (const p of pkgs)
    lines.push(
      `  ${id(p.name)} = pkg "${p.name}-${VERSION}" ./ports/${p.name}/seed [ ${p.deps.map(id).join(' ')} ];`,
    );
  lines.push(`in ${id(TOP)}`, '');
  return lines.join('\n');
}
