import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAppError } from '../core/index.js';
import { parseRecipe } from './parse.js';

const GOOD = `name = "nginx"
version = "1.22.1"
slot = "0"
summary = "HTTP server"
license = "BSD-2-Clause"
homepage = "https://nginx.org/"

[[source]]
url = "https://nginx.org/download/nginx-1.22.1.tar.gz"
sha256 = "9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31"

[options]
ssl   = { default = true,  summary = "TLS support" }
uwsgi = { default = false, summary = "uwsgi protocol module" }

[depends]
build = ["pkgconf"]
run   = ["pcre2 >= 10.30", "zlib >= 1.2.11, < 2", "openssl:3 if ssl"]
conflicts = []
provides = []

[build]
system = "autotools"
configure-args = ["--with-http_ssl_module if ssl", "--with-http_uwsgi_module if uwsgi"]
env = { CFLAGS = "-O2" }
`;

describe('parseRecipe', () => {
  test('reads the contract example', () => {
    const r = parseRecipe(GOOD, 'ports/nginx/1.22.1.toml', { name: 'nginx', version: '1.22.1' });
    assert.equal(r.name, 'nginx');
    assert.equal(r.sources[0]?.kind, 'url');
    assert.equal(r.sources[0]?.kind === 'url' ? r.sources[0].fileName : '', 'nginx-1.22.1.tar.gz');
    assert.deepEqual(r.options.ssl, { default: true, summary: 'TLS support' });
    assert.equal(r.depends.run.length, 3);
    assert.deepEqual(r.depends.run[2]?.condition, { option: 'ssl', negated: false });
    assert.deepEqual(r.build.configureArgs[1], {
      value: '--with-http_uwsgi_module',
      condition: { option: 'uwsgi', negated: false },
    });
    assert.equal(r.lines['run:zlib >= 1.2.11, < 2'], 18);
    assert.match(r.recipeHash, /^[0-9a-f]{64}$/);
  });

  // [description, edit of GOOD, expected "file:line:column: field X" prefix, message fragment]
  const bad: [string, (s: string) => string, string, RegExp][] = [
    [
      'wrong type',
      (s) => s.replace('version = "1.22.1"', 'version = 1.22'),
      ':2:11: field version',
      /expected a string/,
    ],
    [
      'name/dir mismatch',
      (s) => s.replace('name = "nginx"', 'name = "nginz"'),
      ':1:8: field name',
      /does not match the directory "nginx"/,
    ],
    [
      'version/file mismatch',
      (s) => s.replace('version = "1.22.1"', 'version = "1.22.2"'),
      ':2:11: field version',
      /file name "1\.22\.1\.toml"/,
    ],
    [
      'bad sha256',
      (s) => s.replace('sha256 = "9ebb', 'sha256 = "zzbb'),
      ':10:10: field source[0].sha256',
      /not a sha256/,
    ],
    [
      'unknown top-level field',
      (s) => s.replace('homepage =', 'homepgae ='),
      ':6:12: field homepgae',
      /unknown field[^]*did you mean "homepage"/,
    ],
    [
      'unknown build system',
      (s) => s.replace('system = "autotools"', 'system = "scons"'),
      ':23:10: field build.system',
      /unknown build system "scons"/,
    ],
    [
      'bad dependency string',
      (s) => s.replace('"zlib >= 1.2.11, < 2"', '"zlib >== 1.2"'),
      ':18:34: field depends.run[1]',
      /column 6: expected an operator/,
    ],
    [
      'undeclared option in condition',
      (s) => s.replace('"openssl:3 if ssl"', '"openssl:3 if tls"'),
      ':18:52: field depends.run[2]',
      /option "tls", which is not declared/,
    ],
    [
      'option without default',
      (s) => s.replace('ssl   = { default = true,  summary', 'ssl   = { summary'),
      ':13:9: field options.ssl',
      /needs default = true or false/,
    ],
    [
      'url without sha256',
      (s) => s.replace(/sha256 = "9ebb[0-9a-f]+"\n/, ''),
      ':8:1: field source[0]',
      /no sha256/,
    ],
    [
      'source escaping its directory',
      (s) => s.replace(/url = .*\nsha256 = .*\n/, 'path = "../../etc"\n'),
      ':9:8: field source[0].path',
      /leaves the recipe's directory/,
    ],
    [
      'script system without script',
      (s) => s.replace('system = "autotools"', 'system = "script"'),
      ':23:10: field build.system',
      /needs a \[build\] script/,
    ],
  ];
  for (const [what, edit, where, message] of bad) {
    test(`rejects: ${what}`, () => {
      try {
        parseRecipe(edit(GOOD), 'ports/nginx/1.22.1.toml', { name: 'nginx', version: '1.22.1' });
        assert.fail('expected an error');
      } catch (e) {
        assert.ok(isAppError(e), String(e));
        assert.equal(e.code, 'E_RECIPE_FIELD');
        assert.ok(e.message.startsWith(`ports/nginx/1.22.1.toml${where}`), e.message);
        assert.match(`${e.message}\n${e.hint ?? ''}`, message);
        assert.ok(e.hint !== undefined && e.hint.length > 0);
      }
    });
  }

  test('TOML syntax errors carry line and column', () => {
    try {
      parseRecipe(GOOD.replace('summary = "HTTP server"', 'summary = "HTTP server'), 'f.toml');
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isAppError(e));
      assert.equal(e.code, 'E_RECIPE_SYNTAX');
      assert.match(e.message, /^f\.toml:4:\d+: /);
    }
  });
});
