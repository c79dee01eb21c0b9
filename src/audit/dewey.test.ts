import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareDewey, parseDewey } from './dewey.js';
import { matchPattern, patternNames } from './pattern.js';

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

test('dewey order follows pkg_install: modifiers, letters, nb revisions, . and _', () => {
  const rows: [string, string, -1 | 0 | 1][] = [
    ['1.0alpha1', '1.0beta', -1],
    ['1.0beta', '1.0rc1', -1],
    ['1.0rc1', '1.0', -1],
    ['2.0pre1', '2.0rc1', 0],
    ['1.0RC1', '1.0rc1', 0],
    ['1.0', '1.0.0', 0],
    ['1.0', '1.0nb1', -1],
    ['1.0nb1', '1.0nb2', -1],
    ['1.0nb9', '1.0.1', -1],
    ['1.0pl1', '1.0.1', 0],
    ['1.0a', '1.0.1', 0],
    ['1.0b', '1.0a', 1],
    ['1.2_3', '1.2.3', 0],
    ['1.10', '1.9', 1],
    ['1.0', '1.0.0.1', -1],
    ['0.9.8k', '0.9.8knb1', -1],
    ['0.9.8l', '0.9.8knb1', 1],
    ['2.7.2nb1', '2.7.2nb2', -1],
    ['20110406', '20110405', 1],
    ['1.0+dfsg', '1.0', 1],
    ['1.0-2', '1.0.2', 1],
  ];
  for (const [a, b, want] of rows) {
    assert.equal(sign(compareDewey(a, b)), want, `${a} vs ${b}`);
    assert.equal(sign(compareDewey(b, a)), want === 0 ? 0 : -want, `${b} vs ${a}`);
  }
  assert.deepEqual(parseDewey('1.2a'), { parts: [1, 0, 2, 0, 1], revision: 0 });
  assert.deepEqual(parseDewey('3.0beta2nb4'), { parts: [3, 0, 0, -2, 2], revision: 4 });
});

test('pkgsrc patterns: dewey bounds, alternatives, globs, exact names, bare names', () => {
  const rows: [string, string, string, boolean][] = [
    ['zlib<1.1.4', 'zlib', '1.1.3', true],
    ['zlib<1.1.4', 'zlib', '1.1.4', false],
    ['zlib<1.1.4', 'zlib-devel', '1.0', false],
    ['openssl>=3.0<3.0.7', 'openssl', '3.0.6', true],
    ['openssl>=3.0<3.0.7', 'openssl', '3.0.7', false],
    ['openssl>=3.0<3.0.7', 'openssl', '2.9', false],
    ['openssl>=3.0<3.0.7', 'openssl', '3.0', true],
    ['nginx>=0.7<0.7.62', 'nginx', '0.7.61', true],
    ['nginx>0.7<=0.7.62', 'nginx', '0.7.62', true],
    ['nginx>0.7<=0.7.62', 'nginx', '0.7', false],
    ['a>1', 'a', '1.0', false],
    ['a>1', 'a', '1.0.1', true],
    ['a<=1.0', 'a', '1.0', true],
    ['libxml2<2.7.2nb2', 'libxml2', '2.7.2nb1', true],
    ['libxml2<2.7.2nb2', 'libxml2', '2.7.2nb2', false],
    ['curl-7.1{2.3,2.3nb1,3.0}', 'curl', '7.13.0', true],
    ['curl-7.1{2.3,2.3nb1,3.0}', 'curl', '7.12.3nb1', true],
    ['curl-7.1{2.3,2.3nb1,3.0}', 'curl', '7.12.4', false],
    ['ruby1{8,9}-rack<1.1.2', 'ruby19-rack', '1.1.1', true],
    ['ruby1{8,9}-rack<1.1.2', 'ruby20-rack', '1.1.1', false],
    ['{foo,bar}-[0-9]*', 'bar', '1', true],
    ['{a,b{c,d}}<2', 'bd', '1', true],
    ['sqlitemanager-[0-9]*', 'sqlitemanager', '1.2', true],
    ['erlang-[0-9]*', 'erlang', 'R14', false],
    ['php5-*', 'php5-gd', '5.3', true],
    ['mysql-server-5.0.[0-4]*', 'mysql-server', '5.0.3', true],
    ['mysql-server-5.0.[!0-4]*', 'mysql-server', '5.0.3', false],
    ['foo-1.0', 'foo', '1.0', true],
    ['foo-1.0', 'foo', '1.0.1', false],
    ['foo', 'foo', '2.3', true],
    ['foo', 'foobar', '2.3', false],
    ['a.b<2', 'axb', '1', false],
  ];
  for (const [pattern, name, version, want] of rows)
    assert.equal(matchPattern(pattern, name, version), want, `${pattern} ~ ${name}-${version}`);
});

test('pattern names index alternatives and give up on wildcard names', () => {
  assert.deepEqual(patternNames('ruby1{8,9}-rack<1.1.2'), ['ruby18-rack', 'ruby19-rack']);
  assert.deepEqual(patternNames('curl-7.1{2.3,3.0}'), ['curl']);
  assert.deepEqual(patternNames('erlang-[0-9]*'), ['erlang']);
  assert.deepEqual(patternNames('mysql-server-5.0.1'), ['mysql-server']);
  assert.deepEqual(patternNames('foo'), ['foo']);
  assert.equal(patternNames('php5-*'), undefined);
  assert.equal(patternNames('*-1.0'), undefined);
});
