import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../core/index.js';
import { parseDepSpec, parseRecipe, type Recipe, type RecipeIndex } from '../recipe/index.js';
import { compareVersions } from '../version/index.js';
import { resolve } from './resolve.js';

function index(defs: Record<string, string>): RecipeIndex {
  const recipes = Object.entries(defs).map(([id, body]) => {
    const [name = '', version = ''] = id.split('@');
    return parseRecipe(`name = "${name}"\nversion = "${version}"\n${body}`, `${id}.toml`);
  });
  return {
    candidates: (n) =>
      recipes.filter((r) => r.name === n).sort((a, b) => compareVersions(b.version, a.version)),
    names: () => [...new Set(recipes.map((r) => r.name))],
  };
}

const versions = (plan: ReturnType<typeof resolve>) =>
  Object.fromEntries(
    [...plan.nodes.values()].map((n: { recipe: Recipe }) => [n.recipe.name, n.recipe.version]),
  );

const idx = index({
  'libgreet@1.0': '',
  'libgreet@2.0': '',
  'hello@1.0': '[depends]\nrun = ["libgreet >= 1.0"]',
  'hello@2.0': '[depends]\nrun = ["libgreet >= 2.0"]',
  'nginx@1.22.1':
    '[options]\nssl = { default = false }\n[depends]\nrun = ["zlib", "openssl if ssl"]\nbuild = ["pkgconf"]',
  'zlib@1.2.13': '',
  'pkgconf@1.8': '',
  'openssl@3.0': '',
  'py@2.7': 'slot = "2.7"',
  'py@3.11': 'slot = "3.11"',
});

test('newest versions by default, with the closure', () => {
  assert.deepEqual(versions(resolve(idx, { specs: [parseDepSpec('hello')] })), {
    hello: '2.0',
    libgreet: '2.0',
  });
});

test('constraints from the request are honoured', () => {
  const plan = resolve(idx, { specs: [parseDepSpec('hello < 2'), parseDepSpec('libgreet < 2')] });
  assert.deepEqual(versions(plan), { hello: '1.0', libgreet: '1.0' });
  assert.deepEqual(plan.roots, ['hello:0', 'libgreet:0']);
});

test('preferences keep installed versions that still fit', () => {
  const plan = resolve(idx, { specs: [parseDepSpec('hello < 2')], prefer: new Map([['libgreet:0', '1.0']]) });
  assert.deepEqual(versions(plan), { hello: '1.0', libgreet: '1.0' });
});

test('option-conditional dependencies and build dependencies', () => {
  let plan = resolve(idx, { specs: [parseDepSpec('nginx')] });
  assert.deepEqual(Object.keys(versions(plan)).sort(), ['nginx', 'pkgconf', 'zlib']);
  assert.deepEqual(plan.nodes.get('nginx:0')?.buildDeps, ['pkgconf:0']);
  plan = resolve(idx, { specs: [parseDepSpec('nginx')], options: { nginx: { ssl: true } } });
  assert.ok(plan.nodes.has('openssl:0'));
});

test('slots coexist', () => {
  const plan = resolve(idx, { specs: [parseDepSpec('py:2.7'), parseDepSpec('py:3.11')] });
  assert.deepEqual([...plan.nodes.keys()].sort(), ['py:2.7', 'py:3.11']);
});

test('unsatisfiable requests name every requirement and what exists', () => {
  try {
    resolve(idx, { specs: [parseDepSpec('libgreet >= 3')] });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isAppError(e));
    assert.equal(e.code, 'E_RESOLVE_CONFLICT');
    assert.equal(
      e.message,
      'Because the request requires libgreet >= 3, and only libgreet 2.0 and 1.0 are available, the request cannot be resolved.',
    );
    assert.match(e.hint ?? '', /relax "libgreet >= 3"/);
  }
});

test('unknown names suggest close ones', () => {
  try {
    resolve(idx, { specs: [parseDepSpec('greet')] });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isAppError(e));
    assert.equal(e.code, 'E_RECIPE_NOT_FOUND');
    assert.match(e.hint ?? '', /libgreet/);
  }
});

test('a dependency cycle is reported with its path', () => {
  const cyc = index({ 'a@1': '[depends]\nrun = ["b"]', 'b@1': '[depends]\nbuild = ["a"]' });
  assert.throws(
    () => resolve(cyc, { specs: [parseDepSpec('a')] }),
    (e: unknown) => isAppError(e) && e.code === 'E_RESOLVE_CYCLE' && e.message.includes('a → b → a'),
  );
});

test('explanations cite the manifest line and the recipe line of each requirement', () => {
  const deep = index({
    'app@2': '[depends]\nrun = ["zlib",\n  "libweb >= 3"]',
    'libweb@3': '[depends]\nrun = ["openssl >= 3"]',
    'openssl@1.1.1': '',
    'zlib@1.3': '',
  });
  try {
    resolve(deep, {
      specs: [parseDepSpec('app')],
      origins: [{ file: 'ferry.toml', line: 4 }],
      rootName: 'profile web',
    });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isAppError(e));
    assert.equal(e.code, 'E_RESOLVE_CONFLICT');
    assert.equal(
      e.message,
      'Because libweb 3 depends on openssl >= 3 (libweb@3.toml:4) and only openssl 1.1.1 is available, libweb 3 cannot be used.\n' +
        'And because app 2 depends on libweb >= 3 (app@2.toml:5), app 2 cannot be used.\n' +
        'And because profile web requires app (ferry.toml:4), profile web cannot be resolved.',
    );
  }
});

test('the solver backtracks to an older version when the newest cannot be used', () => {
  const bt = index({
    'app@2': '[depends]\nrun = ["libweb >= 3"]',
    'app@1': '[depends]\nrun = ["libweb"]',
    'libweb@3': '[depends]\nrun = ["openssl >= 3"]',
    'libweb@2': '',
    'openssl@1.1.1': '',
  });
  assert.deepEqual(versions(resolve(bt, { specs: [parseDepSpec('app')] })), { app: '1', libweb: '2' });
});

test('virtual names, alternatives and conflicts', () => {
  const v = index({
    'web@1': '[depends]\nrun = ["httpd-cgi", "tls-a | tls-b"]',
    'fcgi@1': '[depends]\nprovides = ["httpd-cgi"]',
    'tls-a@1': '[depends]\nconflicts = ["fcgi"]',
    'tls-b@1': '',
  });
  const plan = resolve(v, { specs: [parseDepSpec('web')] });
  assert.deepEqual(versions(plan), { web: '1', fcgi: '1', 'tls-b': '1' });
  assert.deepEqual(plan.nodes.get('web:0')?.runDeps, ['fcgi:0', 'tls-b:0']);
});
