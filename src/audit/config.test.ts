import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../core/index.js';
import { addIgnoreText, isIsoDate, readAuditConfig } from './config.js';

const ig = { id: 'CVE-2024-1', reason: 'not "reachable"', until: '2027-01-01' };
const entry = '{ id = "CVE-2024-1", reason = "not \\"reachable\\"", until = "2027-01-01" }';

test('adding an ignore edits ferry.toml textually and keeps every other byte', () => {
  const rows: [string, string][] = [
    ['', `[audit]\nignore = [\n  ${entry},\n]\n`],
    [
      'ports = ["a"] # [audit] here is a comment\n',
      `ports = ["a"] # [audit] here is a comment\n\n[audit]\nignore = [\n  ${entry},\n]\n`,
    ],
    ['ports = ["a"]', `ports = ["a"]\n\n[audit]\nignore = [\n  ${entry},\n]\n`],
    [
      '[audit]\nsources = ["x"]\n\n[profiles.web]\npackages = []\n',
      `[audit]\nignore = [\n  ${entry},\n]\nsources = ["x"]\n\n[profiles.web]\npackages = []\n`,
    ],
    ['[audit]\nignore = []\n', `[audit]\nignore = [\n  ${entry},\n]\n`],
    [
      '[audit]\nignore = [\n  { id = "A", reason = "r", until = "2026-01-01" }, # keep\n]\n',
      `[audit]\nignore = [\n  { id = "A", reason = "r", until = "2026-01-01" },\n  ${entry}, # keep\n]\n`,
    ],
    [
      '[audit]\nignore = [{ id = "A", reason = "]", until = "2026-01-01" }]\n',
      `[audit]\nignore = [{ id = "A", reason = "]", until = "2026-01-01" },\n  ${entry}]\n`,
    ],
    [
      '[audit]\nignore = [\n  { id = "CVE-2024-1", reason = "old", until = "2025-01-01" },\n]\n',
      `[audit]\nignore = [\n  ${entry},\n]\n`,
    ],
    [
      '[[audit.ignore]]\nid = "A"\nreason = "r"\nuntil = "2026-01-01"\n',
      '[[audit.ignore]]\nid = "A"\nreason = "r"\nuntil = "2026-01-01"\n\n[[audit.ignore]]\nid = "CVE-2024-1"\nreason = "not \\"reachable\\""\nuntil = "2027-01-01"\n',
    ],
  ];
  for (const [before, after] of rows) assert.equal(addIgnoreText(before, 'ferry.toml', ig), after, before);
  assert.throws(
    () => addIgnoreText('audit = { sources = [] }\n', 'ferry.toml', ig),
    (e: unknown) =>
      e instanceof AppError && e.code === 'E_MANIFEST_FIELD' && (e.hint ?? '').includes('by hand'),
  );
});

test('the [audit] table is validated with positions', () => {
  const text = '[audit]\nignore = [{ id = "A", reason = "r", until = "2026-02-30" }]\n';
  assert.throws(
    () => readAuditConfig({ ignore: [{ id: 'A', reason: 'r', until: '2026-02-30' }] }, text, 'f'),
    /f:\d+:\d+: field audit\.ignore\.0\.until: .*not a date/,
  );
  assert.throws(() => readAuditConfig({ bogus: 1 }, '[audit]\nbogus = 1\n', 'f'), /unknown field "bogus"/);
  assert.throws(
    () => readAuditConfig({ ignore: [{ id: 'A', until: '2026-01-01' }] }, text, 'f'),
    /reason: expected a non-empty string/,
  );
  assert.deepEqual(readAuditConfig(undefined, '', 'f'), { sources: [], keys: [], ignores: [] });
  assert.deepEqual(readAuditConfig({ keys: ['k.asc'] }, '[audit]\nkeys = ["k.asc"]\n', 'f').keys, ['k.asc']);
  assert.throws(
    () => readAuditConfig({ keys: 'k.asc' }, '[audit]\nkeys = "k.asc"\n', 'f'),
    /f:2:\d+: field audit\.keys: expected a list of paths of OpenPGP public keys/,
  );
  assert.deepEqual(
    [isIsoDate('2024-02-29'), isIsoDate('2023-02-29'), isIsoDate('2024-1-01'), isIsoDate('x')],
    [true, false, false, false],
  );
});
