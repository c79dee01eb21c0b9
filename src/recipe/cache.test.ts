import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { sha256Bytes } from '../core/index.js';
import { RecipeCache, RECIPE_FORMAT } from './cache.js';
import { parseRecipe } from './parse.js';

// Every kind of field parseRecipe reads: url and path sources, options, conditional dependencies and
// configure arguments, provides, [audit], a script build.
const FULL = `name = "nginx"
version = "1.22.1"
slot = "0"
summary = "HTTP server"
license = "BSD-2-Clause"
homepage = "https://nginx.org/"

[[source]]
url = "https://nginx.org/download/nginx-1.22.1.tar.gz"
sha256 = "9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31"

[[source]]
path = "patches"

[options]
ssl   = { default = true,  summary = "TLS support" }
uwsgi = { default = false, summary = "uwsgi protocol module" }

[depends]
build = ["pkgconf"]
run   = ["pcre2 >= 10.30", "zlib >= 1.2.11, < 2", "openssl:3 if ssl", "libxslt | libxml2 if !ssl"]
conflicts = ["nginx-light"]
provides = ["httpd = 2"]

[build]
system = "script"
script = "sh ./build.sh"
configure-args = ["--with-http_ssl_module if ssl", "--with-http_uwsgi_module if uwsgi"]
env = { CFLAGS = "-O2" }

[audit]
names = ["nginx"]
cpe = "cpe:2.3:a:f5:nginx"
`;

const WHERE = { name: 'nginx', version: '1.22.1' };
const FILE = '/ports/nginx/1.22.1.toml';
const work = mkdtempSync(join(tmpdir(), 'ferry-recipe-cache-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('RecipeCache', () => {
  test(`parseRecipe's output is pinned to RECIPE_FORMAT ${RECIPE_FORMAT}`, () => {
    // When this fails on purpose (parseRecipe now reads something else or differently), bump RECIPE_FORMAT in
    // cache.ts and pin the new digest here: otherwise users' caches would hand back recipes of the old shape.
    const pinned: Record<number, string> = {
      1: '937e7ffd7eb6175f57b19b293969d58f4dced9854a621aea076d6eff2a3f31ff',
    };
    assert.equal(sha256Bytes(JSON.stringify(parseRecipe(FULL, FILE, WHERE))), pinned[RECIPE_FORMAT]);
  });

  test('a saved recipe comes back equal, without parsing, from a fresh load', () => {
    const root = join(work, 'a');
    mkdirSync(join(root, 'var'), { recursive: true });
    const file = join(root, 'var', 'cache', 'recipes.json');
    const first = RecipeCache.load(file);
    const parsed = first.recipe(FULL, FILE, WHERE, () => parseRecipe(FULL, FILE, WHERE));
    first.save();
    const again = RecipeCache.load(file).recipe(FULL, FILE, WHERE, () => assert.fail('parsed again'));
    assert.deepEqual(again, parsed);
  });

  test('an edited recipe, another path or another expected version is a miss', () => {
    const root = join(work, 'b');
    mkdirSync(join(root, 'var'), { recursive: true });
    const file = join(root, 'var', 'cache', 'recipes.json');
    const c = RecipeCache.load(file);
    c.recipe(FULL, FILE, WHERE, () => parseRecipe(FULL, FILE, WHERE));
    c.save();
    const edited = FULL.replace('"-O2"', '"-O3"');
    let parses = 0;
    const fresh = RecipeCache.load(file);
    const r = fresh.recipe(edited, FILE, WHERE, () => {
      parses++;
      return parseRecipe(edited, FILE, WHERE);
    });
    assert.equal(r.build.env.CFLAGS, '-O3');
    fresh.recipe(FULL, '/other/nginx/1.22.1.toml', WHERE, () => {
      parses++;
      return parseRecipe(FULL, '/other/nginx/1.22.1.toml', WHERE);
    });
    assert.throws(() =>
      fresh.recipe(FULL, FILE, { name: 'nginx', version: '1.22.2' }, () =>
        parseRecipe(FULL, FILE, { name: 'nginx', version: '1.22.2' }),
      ),
    );
    assert.equal(parses, 2);
  });

  test('a damaged or foreign cache file counts as empty and is replaced', () => {
    const root = join(work, 'c');
    mkdirSync(join(root, 'var', 'cache'), { recursive: true });
    const file = join(root, 'var', 'cache', 'recipes.json');
    for (const junk of ['{"format": 1, "entr', '{"format": 999, "entries": {}}', '[]']) {
      writeFileSync(file, junk);
      const c = RecipeCache.load(file);
      let parsed = false;
      c.recipe(FULL, FILE, WHERE, () => {
        parsed = true;
        return parseRecipe(FULL, FILE, WHERE);
      });
      assert.ok(parsed, junk);
      c.save();
      assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { format: number }).format, RECIPE_FORMAT);
    }
  });

  test('reading recipes creates no root', () => {
    const file = join(work, 'absent-root', 'var', 'cache', 'recipes.json');
    const c = RecipeCache.load(file);
    c.recipe(FULL, FILE, WHERE, () => parseRecipe(FULL, FILE, WHERE));
    c.save();
    assert.throws(() => readFileSync(join(work, 'absent-root', 'var', 'cache', 'recipes.json')));
    assert.throws(() => readFileSync(join(work, 'absent-root')), /ENOENT/);
  });
});
