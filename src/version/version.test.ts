import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../core/index.js';
import {
  compareVersions,
  formatRange,
  formatVersion,
  parseOp,
  parseVersion,
  satisfies,
  tryParseVersion,
  type Op,
  type VersionRange,
} from './index.js';

const valid: readonly string[] = [
  '0',
  '1.2.13',
  '1.0~rc1',
  '1:0.9',
  '2147483647:1',
  '3.0.1+dfsg-2',
  '1.2.3-4-5',
  '2:4.1-3ubuntu1~22.04.1',
  '20230311',
  '1.0a',
  '0.9.8zh',
  '1.0~~',
  '1.0-0',
  '7.88.1-10+deb12u5',
  '1.0-A.1',
];

const invalid: readonly { readonly s: string; readonly problem: RegExp }[] = [
  { s: '', problem: /empty/ },
  { s: 'v1.0', problem: /must start with a digit, found "v"/ },
  { s: '.1', problem: /must start with a digit/ },
  { s: '~1', problem: /must start with a digit/ },
  { s: ':1.0', problem: /epoch before ":" is empty/ },
  { s: 'a:1.0', problem: /epoch "a" is not a number/ },
  { s: '2147483648:1', problem: /larger than 2147483647/ },
  { s: '1:', problem: /upstream version is empty/ },
  { s: '1:-1', problem: /upstream version is empty/ },
  { s: '-1', problem: /upstream version is empty/ },
  { s: '1.0-', problem: /revision after the last "-" is empty/ },
  { s: '1.0 beta', problem: /character " " at position 4 is not allowed in the upstream version/ },
  { s: '1.0_1', problem: /character "_" at position 4/ },
  { s: '1:2:3', problem: /character ":" at position 4 is not allowed in the upstream version/ },
  { s: '1.0-1:2', problem: /epoch "1.0-1" is not a number/ },
  { s: '1:1.0-1_2', problem: /character "_" at position 8 is not allowed in the revision/ },
  { s: '1.0-1-', problem: /revision after the last "-" is empty/ },
  { s: ' 1.0', problem: /must start with a digit/ },
  { s: '1.0\n', problem: /not allowed/ },
  { s: '1.0é', problem: /character "é"/ },
];

test('parseVersion accepts valid versions unchanged', () => {
  for (const s of valid) {
    assert.equal(formatVersion(parseVersion(s)), s, s);
    assert.equal(tryParseVersion(s), s, s);
  }
});

test('parseVersion rejects invalid versions with E_VERSION_SYNTAX, saying what is allowed', () => {
  for (const row of invalid) {
    assert.equal(tryParseVersion(row.s), undefined, JSON.stringify(row.s));
    assert.throws(
      () => parseVersion(row.s),
      (e: unknown) => {
        assert.ok(e instanceof AppError);
        assert.equal(e.code, 'E_VERSION_SYNTAX');
        assert.ok(e.message.startsWith(`"${row.s}" is not a valid version: `), e.message);
        assert.match(e.message, row.problem);
        assert.match(e.message, /a version is \[epoch:\]upstream\[-revision\]/);
        assert.ok(e.hint?.includes('1.2.13'));
        assert.equal(e.details.version, row.s);
        return true;
      },
      JSON.stringify(row.s),
    );
  }
});

/** Each row is `a OP b` with OP the dpkg relation; every row is also checked reversed. */
const ordered: readonly (readonly [string, '<' | '=', string])[] = [
  // Tilde sorts before everything, even the end of the string.
  ['1.0~rc1', '<', '1.0'],
  ['1.0~rc1', '<', '1.0~rc2'],
  ['1.0~~', '<', '1.0~'],
  ['1.0~~a', '<', '1.0~'],
  ['1.0~', '<', '1.0'],
  ['1.0~rc1-1', '<', '1.0-1'],
  ['1.0-1~bpo1', '<', '1.0-1'],
  // Epochs outrank everything else; a missing epoch is 0.
  ['2.0', '<', '1:0.9'],
  ['1:0.9', '<', '2:0.1'],
  ['1.0', '=', '0:1.0'],
  ['9:1', '<', '10:1'],
  ['00:1.0', '=', '1.0'],
  // Revisions: absent compares like "0"; the last hyphen splits.
  ['1.0', '=', '1.0-0'],
  ['1.0', '<', '1.0-1'],
  ['1.0-1', '<', '1.0-2'],
  ['1.0-9', '<', '1.0-10'],
  ['1.0-1', '<', '1.0.1-1'],
  ['1.0-1-1', '<', '1.0-1-2'],
  ['1.0-1-2', '<', '1.0-2-1'],
  ['1.0-2', '<', '1.0-1-1'],
  ['1.0-1', '<', '1.0-1+deb12u1'],
  ['1.0+dfsg-1', '<', '1.0+dfsg1-1'],
  // Letters sort before non-letters; the end of a part before both.
  ['1.0', '<', '1.0a'],
  ['1.0a', '<', '1.0+'],
  ['1.0a', '<', '1.0.'],
  ['1.0Z', '<', '1.0a'],
  ['1.0+', '<', '1.0.'],
  ['1.0', '<', '1.0+'],
  ['1.0+b1', '<', '1.0.1'],
  ['1.0.', '=', '1.0.0'],
  ['1.0.', '<', '1.0.1'],
  // Digit runs compare as numbers; leading zeros do not count.
  ['9', '<', '10'],
  ['1.9', '<', '1.10'],
  ['1.01', '=', '1.1'],
  ['1.001', '=', '1.1'],
  ['1.0', '=', '1.00'],
  ['1.000', '<', '1.0001'],
  ['1.0', '=', '1.000'],
  ['2.0009', '<', '2.010'],
  ['0100', '=', '100'],
  ['99999999999999999999', '<', '100000000000000000000'],
  ['1.99999999999999999998', '<', '1.99999999999999999999'],
  ['1.2.3', '=', '1.2.3'],
  ['1.2', '<', '1.2.0'],
  ['1a', '<', '1b'],
  ['1a2', '<', '1a10'],
  ['7.88.1-10+deb12u5', '<', '7.88.1-10+deb12u10'],
];

test('compareVersions follows dpkg order', () => {
  for (const [a, rel, b] of ordered) {
    const expected = rel === '<' ? -1 : 0;
    assert.equal(compareVersions(a, b), expected, `${a} ${rel} ${b}`);
    assert.equal(compareVersions(b, a), -expected || 0, `${b} vs ${a}`);
  }
});

test('compareVersions sorts a list into dpkg order', () => {
  const sorted = [
    '1.0~~',
    '1.0~rc1',
    '1.0',
    '1.0-1',
    '1.0a',
    '1.0+',
    '1.0.1',
    '1.1',
    '1.10',
    '1:0.1',
    '2:0~',
  ];
  const shuffled = [...sorted].reverse();
  assert.deepEqual(shuffled.sort(compareVersions), sorted);
});

test('parseOp reads the six operators and == as =', () => {
  const rows: readonly (readonly [string, Op | undefined])[] = [
    ['<', '<'],
    ['<=', '<='],
    ['=', '='],
    ['==', '='],
    ['>=', '>='],
    ['>', '>'],
    ['!=', '!='],
    ['=<', undefined],
    ['<<', undefined],
    ['!', undefined],
    ['~>', undefined],
    ['', undefined],
  ];
  for (const [s, op] of rows) assert.equal(parseOp(s), op, s);
});

const range = (...parts: (readonly [Op, string])[]): VersionRange =>
  parts.map(([op, v]) => ({ op, version: parseVersion(v) }));

test('satisfies checks every constraint of the range', () => {
  const rows: readonly (readonly [string, VersionRange, boolean])[] = [
    ['1.0', range(), true],
    ['1.2.11', range(['>=', '1.2.11'], ['<', '2']), true],
    ['1.2.13', range(['>=', '1.2.11'], ['<', '2']), true],
    ['1.2.10', range(['>=', '1.2.11'], ['<', '2']), false],
    ['2', range(['>=', '1.2.11'], ['<', '2']), false],
    ['2~rc1', range(['>=', '1.2.11'], ['<', '2']), true],
    ['1:1.0', range(['<', '2']), false],
    ['1.0', range(['=', '0:1.0']), true],
    ['1.0', range(['!=', '1.00']), false],
    ['1.1', range(['!=', '1.0']), true],
    ['1.0', range(['<=', '1.0']), true],
    ['1.0', range(['<', '1.0']), false],
    ['1.0', range(['>', '1.0']), false],
    ['1.0a', range(['>', '1.0']), true],
  ];
  for (const [v, r, expected] of rows) assert.equal(satisfies(v, r), expected, `${v} in ${formatRange(r)}`);
});

test('formatRange writes constraints as dependency strings do', () => {
  assert.equal(formatRange(range(['>=', '1.2.11'], ['<', '2'])), '>= 1.2.11, < 2');
  assert.equal(formatRange(range(['!=', '1:1.0-1'])), '!= 1:1.0-1');
  assert.equal(formatRange(range()), '');
});
