import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../core/index.js';
import {
  formatDepSpec,
  matchesRequirement,
  parseConditional,
  parseDepSpec,
  type DepSpec,
} from './depspec.js';

/** Compact expectation: each alternative as `name[:slot]` plus `op version` pairs, and the condition. */
interface Expect {
  readonly alts: readonly (readonly [string, ...string[]])[];
  readonly cond?: string;
  /** The canonical form, when it differs from the input. */
  readonly canonical?: string;
}

const valid: readonly (readonly [string, Expect])[] = [
  ['zlib', { alts: [['zlib']] }],
  ['pcre2 >= 10.30', { alts: [['pcre2', '>= 10.30']] }],
  ['zlib >= 1.2.11, < 2', { alts: [['zlib', '>= 1.2.11', '< 2']] }],
  ['openssl:3 if ssl', { alts: [['openssl:3']], cond: 'ssl' }],
  ['foo | bar >= 2 if !static', { alts: [['foo'], ['bar', '>= 2']], cond: '!static' }],
  ['hidapp < 2', { alts: [['hidapp', '< 2']] }],
  ['a:Qt5.x_1+b-2 = 1:2.0-3~bpo1', { alts: [['a:Qt5.x_1+b-2', '= 1:2.0-3~bpo1']] }],
  ['gtk+3.0 != 3.24.0', { alts: [['gtk+3.0', '!= 3.24.0']] }],
  ['lib_foo-bar.2 <= 1.0~rc1', { alts: [['lib_foo-bar.2', '<= 1.0~rc1']] }],
  ['0ad > 0.0.26', { alts: [['0ad', '> 0.0.26']] }],
  ['foo == 1.0', { alts: [['foo', '= 1.0']], canonical: 'foo = 1.0' }],
  ['foo>=1.0,<2', { alts: [['foo', '>= 1.0', '< 2']], canonical: 'foo >= 1.0, < 2' }],
  [
    '  foo  >=  1.0 ,  < 2  |  bar:1  if  ssl  ',
    {
      alts: [['foo', '>= 1.0', '< 2'], ['bar:1']],
      cond: 'ssl',
      canonical: 'foo >= 1.0, < 2 | bar:1 if ssl',
    },
  ],
  ['foo|bar|baz', { alts: [['foo'], ['bar'], ['baz']], canonical: 'foo | bar | baz' }],
  ['foo\t>= 1\tif\t!x-y_2', { alts: [['foo', '>= 1']], cond: '!x-y_2', canonical: 'foo >= 1 if !x-y_2' }],
  ['if', { alts: [['if']] }],
  ['if | iffy if if', { alts: [['if'], ['iffy']], cond: 'if' }],
  ['foo >= 1if', { alts: [['foo', '>= 1if']] }],
];

test('parseDepSpec parses valid dependency strings', () => {
  for (const [text, want] of valid) {
    const d = parseDepSpec(text);
    assert.equal(d.text, text);
    const alts = d.alternatives.map((a) => [
      a.slot === undefined ? a.name : `${a.name}:${a.slot}`,
      ...a.range.map((c) => `${c.op} ${c.version}`),
    ]);
    assert.deepEqual(alts, want.alts, text);
    const cond =
      d.condition === undefined ? undefined : `${d.condition.negated ? '!' : ''}${d.condition.option}`;
    assert.equal(cond, want.cond, text);
    const canonical = want.canonical ?? text;
    assert.equal(formatDepSpec(d), canonical, text);
    const again = parseDepSpec(canonical);
    assert.deepEqual({ ...again, text: '' }, { ...d, text: '' }, `${text} round trip`);
  }
});

test('parseDepSpec leaves slot and condition out rather than undefined', () => {
  const d = parseDepSpec('zlib');
  assert.deepEqual(d, { alternatives: [{ name: 'zlib', range: [] }], text: 'zlib' });
  assert.ok(!('slot' in (d.alternatives[0] ?? {})));
  assert.ok(!('condition' in d));
});

/** Each row: the text, the 1-based column the error points at, and what the message must say is expected. */
const invalid: readonly (readonly [string, number, RegExp])[] = [
  ['', 1, /expected a package name .*, found the end/],
  ['   ', 4, /expected a package name/],
  ['Zlib', 1, /expected a package name \(lowercase/],
  ['zLib', 2, /expected a lowercase package name, found "L"/],
  ['-foo', 1, /expected a package name/],
  ['foo >=', 7, /expected a version after ">=", found the end/],
  ['foo >= , < 2', 8, /expected a version after ">=", found ","/],
  ['foo >= 1.0,', 12, /expected an operator .* after ",", found the end/],
  ['foo >= 1.0, 2', 13, /expected an operator .* after ",", found "2"/],
  [
    'foo >= v1',
    8,
    /expected a version after ">=", found "v1" \(the upstream version must start with a digit/,
  ],
  ['foo >= 1.0_2', 8, /found "1.0_2" \(character "_" at position 4/],
  ['foo => 1', 5, /expected an operator \(<, <=, =, >=, >, !=\), found "=>"/],
  ['foo ~> 1', 5, /expected an operator .*, "\|", "if <option>" or the end of the string, found "~"/],
  ['foo bar', 5, /expected an operator .*, "\|", "if <option>" or the end of the string, found "b"/],
  ['foo >= 1 2', 10, /expected ",", "\|", "if <option>" or the end of the string, found "2"/],
  ['foo,bar', 4, /expected an operator .* after "foo"/],
  ['foo:', 5, /expected a slot after ":"/],
  ['foo: 3', 5, /expected a slot after ":"/],
  ['foo:3/4', 6, /after "foo:3", found "\/"/],
  ['foo |', 6, /expected a package name/],
  ['| foo', 1, /expected a package name/],
  ['foo || bar', 6, /expected a package name/],
  ['foo if', 7, /expected an option name after "if", found the end/],
  ['foo if !', 9, /expected an option name after "!", found the end/],
  ['foo if ! ssl', 9, /expected an option name after "!", found " "/],
  ['foo if!ssl', 7, /expected a space after "if", found "!"/],
  ['foo if SSL', 8, /expected an option name after "if", found "S"/],
  ['foo if ssl | bar', 12, /the "if" condition applies to the whole dependency and comes last/],
  ['foo if ssl, x', 11, /comes last/],
  ['foo if ssl extra', 12, /expected the end of the string after the condition, found "e"/],
  ['foo if ssl if x', 12, /expected the end of the string after the condition/],
  ['foo >= 1 if 2x', 13, /expected an option name after "if", found "2"/],
  ['foo\n>= 1', 4, /found "\n"/],
];

test('parseDepSpec rejects invalid strings, pointing at the column', () => {
  for (const [text, column, expected] of invalid) {
    assert.throws(
      () => parseDepSpec(text),
      (e: unknown) => {
        assert.ok(e instanceof AppError, text);
        assert.equal(e.code, 'E_DEPSPEC_SYNTAX', text);
        assert.ok(
          e.message.startsWith(`dependency "${text}" at column ${column}: `),
          `${text}: ${e.message}`,
        );
        assert.match(e.message, expected, text);
        assert.equal(e.details.column, column, text);
        assert.ok(e.hint?.includes('zlib >= 1.2.11, < 2'), text);
        return true;
      },
      text,
    );
  }
});

test('an invalid version keeps the version error as the cause', () => {
  assert.throws(
    () => parseDepSpec('foo >= 1..2:x'),
    (e: unknown) =>
      e instanceof AppError && e.cause instanceof AppError && e.cause.code === 'E_VERSION_SYNTAX',
  );
});

test('matchesRequirement checks name, slot when named, and range', () => {
  const req = (text: string) => {
    const d: DepSpec = parseDepSpec(text);
    const first = d.alternatives[0];
    assert.ok(first !== undefined);
    return first;
  };
  const rows: readonly (readonly [string, string, string, string, boolean])[] = [
    ['zlib', 'zlib', '0', '1.3', true],
    ['zlib', 'zlibx', '0', '1.3', false],
    ['zlib >= 1.2.11, < 2', 'zlib', '0', '1.2.13', true],
    ['zlib >= 1.2.11, < 2', 'zlib', '0', '1.2.9', false],
    ['zlib >= 1.2.11, < 2', 'zlib', '0', '2~rc1', true],
    ['zlib >= 1.2.11, < 2', 'zlib', '0', '2.0~rc1', false],
    ['zlib >= 1.2.11, < 2', 'zlib', '0', '1:1.0', false],
    ['openssl:3', 'openssl', '3', '3.0.13', true],
    ['openssl:3', 'openssl', '1.1', '1.1.1w', false],
    ['openssl', 'openssl', '1.1', '1.1.1w', true],
    ['openssl:3 >= 3.1', 'openssl', '3', '3.0.13', false],
    ['foo = 1.0', 'foo', '0', '1.00', true],
    ['foo != 1.0', 'foo', '0', '1.0-0', false],
  ];
  for (const [text, name, slot, version, expected] of rows)
    assert.equal(
      matchesRequirement(req(text), { name, slot, version }),
      expected,
      `${text} vs ${name}:${slot} ${version}`,
    );
});

test('parseConditional splits a trailing if [!]option', () => {
  const rows: readonly (readonly [string, string, string | undefined])[] = [
    ['--with-http_ssl_module if ssl', '--with-http_ssl_module', 'ssl'],
    ['--disable-shared if !shared', '--disable-shared', '!shared'],
    ['--enable-x  if   opt-2_b  ', '--enable-x', 'opt-2_b'],
    ['--a if b if c', '--a if b', 'c'],
    ['CFLAGS=-O2 -g', 'CFLAGS=-O2 -g', undefined],
    ['--x if', '--x if', undefined],
    ['--x if SSL', '--x if SSL', undefined],
    ['--x if 9ssl', '--x if 9ssl', undefined],
    ['--x if -ssl', '--x if -ssl', undefined],
    ['--x if ! ssl', '--x if ! ssl', undefined],
    ['--x if!ssl', '--x if!ssl', undefined],
    ['--xif ssl', '--xif ssl', undefined],
    ['if ssl', 'if ssl', undefined],
    ['--gif ssl', '--gif ssl', undefined],
    ['--motif', '--motif', undefined],
    ['', '', undefined],
  ];
  for (const [text, value, cond] of rows) {
    const c = parseConditional(text);
    assert.equal(c.value, value, text);
    const got =
      c.condition === undefined ? undefined : `${c.condition.negated ? '!' : ''}${c.condition.option}`;
    assert.equal(got, cond, text);
    if (cond === undefined) assert.ok(!('condition' in c), text);
  }
});
