import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppError } from '../core/index.js';
import { loadAdvisories } from './load.js';
import { applyIgnores, audit, compareAudits, failing, indexAdvisories } from './match.js';
import { compareSemver, evaluateOsv, parseOsvRecord } from './osv.js';
import { parsePkgVulnerabilities } from './pkgsrc.js';
import type { AffectedRule, AuditPackage } from './types.js';
import { readZip } from './zip.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/audit/', import.meta.url));
const snapshot = '/work/shared/data/advisories/pkg-vulnerabilities.netbsd-1.3817-2011-04-06.txt';
const code = (c: string) => (e: unknown) => e instanceof AppError && e.code === c;

const rule = (ranges: unknown[], versions: string[] = []): Extract<AffectedRule, { kind: 'osv' }> => {
  const a = parseOsvRecord(
    { id: 'X', affected: [{ package: { name: 'p', ecosystem: 'E' }, ranges, versions }] },
    't',
  );
  const r = a.affected[0];
  assert.ok(r?.kind === 'osv');
  return r;
};

test('OSV ranges: epochs, ~, several intervals, last_affected, explicit versions, GIT', () => {
  const eco = (events: unknown[]) => rule([{ type: 'ECOSYSTEM', events }]);
  const rows: [ReturnType<typeof rule>, string, string][] = [
    [eco([{ introduced: '0' }, { fixed: '1:1.0-2' }]), '2.0', 'affected 1:1.0-2'],
    [eco([{ introduced: '0' }, { fixed: '1:1.0-2' }]), '1:1.0-2', 'unaffected'],
    [eco([{ introduced: '0' }, { fixed: '1.0' }]), '1.0~rc1', 'affected 1.0'],
    [eco([{ introduced: '1.0~' }, { fixed: '1.1' }]), '1.0~beta', 'affected 1.1'],
    [eco([{ introduced: '1.0' }, { fixed: '1.1' }]), '1.0~rc1', 'unaffected'],
    [
      eco([{ fixed: '1.4' }, { introduced: '2.0' }, { introduced: '1.0' }, { fixed: '2.3' }]),
      '1.2',
      'affected 1.4',
    ],
    [
      eco([{ introduced: '1.0' }, { fixed: '1.4' }, { introduced: '2.0' }, { fixed: '2.3' }]),
      '1.5',
      'unaffected',
    ],
    [
      eco([{ introduced: '1.0' }, { fixed: '1.4' }, { introduced: '2.0' }, { fixed: '2.3' }]),
      '2.2',
      'affected 2.3',
    ],
    [eco([{ introduced: '1.5' }, { last_affected: '2.0' }]), '2.0', 'affected'],
    [eco([{ introduced: '1.5' }, { last_affected: '2.0' }]), '2.0.1', 'unaffected'],
    [eco([{ introduced: '0' }]), '99', 'affected'],
    [
      rule([{ type: 'SEMVER', events: [{ introduced: '2.0.0-rc.1' }, { fixed: '2.0.3' }] }]),
      '2.0.0-beta',
      'unaffected',
    ],
    [
      rule([{ type: 'SEMVER', events: [{ introduced: '2.0.0-rc.1' }, { fixed: '2.0.3' }] }]),
      '2.0.0',
      'affected 2.0.3',
    ],
    [rule([{ type: 'GIT', events: [{ introduced: 'abc' }, { fixed: 'def' }] }]), '1.0', 'unknown'],
    [rule([{ type: 'GIT', events: [{ introduced: 'abc' }] }], ['1.0', '1.1']), '1.1', 'affected'],
    [rule([{ type: 'GIT', events: [{ introduced: 'abc' }] }], ['1.0']), '1.2', 'unaffected'],
  ];
  for (const [r, version, want] of rows) {
    const v = evaluateOsv(r, version);
    const got = v.kind === 'affected' && v.fixed !== undefined ? `affected ${v.fixed}` : v.kind;
    assert.equal(got, want, `${version} against ${JSON.stringify(r.ranges)}`);
  }
});

test('SemVer precedence', () => {
  const order = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    'v1.1.0',
  ];
  for (let i = 0; i + 1 < order.length; i++)
    assert.ok(compareSemver(order[i] ?? '', order[i + 1] ?? '') < 0, `${order[i]} < ${order[i + 1]}`);
  assert.equal(compareSemver('1.0.0+build.5', '1.0.0'), 0);
});

test('fixtures: a directory and a zip of OSV records read the same; withdrawn and GIT-only records never match', async () => {
  const dir = await loadAdvisories([`${fixtures}osv`]);
  const zip = await loadAdvisories([`${fixtures}osv.zip`]);
  assert.equal(dir.advisories.length, 7);
  assert.deepEqual(zip.advisories.map((a) => a.id).sort(), dir.advisories.map((a) => a.id).sort());
  assert.equal(dir.sources[0]?.newest, '2024-11-21');
  const pkgs: AuditPackage[] = [
    { name: 'libgreet', version: '2.0', aliases: ['greet'], where: ['default'] },
    {
      name: 'libgreet',
      version: '1.0',
      aliases: ['greet'],
      cpe: 'cpe:2.3:a:example:libgreet',
      where: ['old'],
    },
    { name: 'hello', version: '2.0', where: ['default'] },
    { name: 'hello', version: '1.0', where: ['old'] },
    { name: 'curl', version: '7.60.0', where: ['default'] },
  ];
  const idx = indexAdvisories(dir.advisories);
  assert.equal(idx.withdrawn, 1);
  const r = audit(pkgs, idx);
  const got = r.findings.map(
    (f) => `${f.name} ${f.version} ${f.id} ${f.severity} ${f.fixed ?? '-'} ${f.aliases.join(',')}`,
  );
  assert.deepEqual(got, [
    'hello 2.0 ALPINE-CVE-2024-90004 medium - ',
    'libgreet 1.0 CVE-2024-90002 medium 1.4.2 GHSA-fx7p-2q3r-9w8v',
    'libgreet 1.0 DEBIAN-CVE-2023-90001 unknown 1:1.0-2 CVE-2023-90001',
    'libgreet 2.0 DEBIAN-CVE-2023-90001 unknown 1:1.0-2 CVE-2023-90001',
  ]);
  assert.deepEqual(r.unevaluable, ['OSV-2022-450'], 'OSV-2017-79 lists tags, so it can say no');
  const semverPkg = audit([{ name: 'greet', version: '2.0.1', where: ['x'] }], idx).findings;
  assert.deepEqual(
    semverPkg.map((f) => [f.id, f.severity, f.score, f.fixed]),
    [['GHSA-fx7p-2q3r-9w8v', 'critical', 9.1, '2.0.3']],
  );
  const both = audit([{ name: 'greet', version: '1.2.0', where: ['x'] }], idx).findings;
  assert.equal(both.length, 1, 'a GHSA and the CVE it aliases are one finding');
  assert.equal(both[0]?.id, 'GHSA-fx7p-2q3r-9w8v');
  assert.deepEqual(both[0]?.aliases, ['CVE-2024-90002']);
});

test('pkg-vulnerabilities excerpt: checksum verifies, patterns match, tampering is caught', () => {
  const file = `${fixtures}pkg-vulnerabilities.excerpt`;
  const text = readFileSync(file, 'latin1');
  const r = parsePkgVulnerabilities(text, file);
  assert.deepEqual(r.verified, ['SHA256']);
  assert.equal(r.advisories.length, 17, 'the eol entry is skipped');
  assert.equal(r.revision, '1.3823');
  const idx = indexAdvisories(r.advisories);
  const f = audit(
    [
      { name: 'nginx', version: '0.7.61', where: ['a'] },
      { name: 'ruby19-rack', version: '1.2.1', where: ['a'] },
      { name: 'curl', version: '7.12.3nb1', where: ['a'] },
      { name: 'zlib', version: '1.2.5', where: ['a'] },
      { name: 'erlang', version: '14.2', where: ['a'] },
    ],
    idx,
  ).findings;
  assert.deepEqual(
    f.map((x) => `${x.name} ${x.id} ${x.fixed ?? '-'}`),
    [
      'curl http://www.idefense.com/application/poi/display?id=202&type=vulnerabilities -',
      'erlang http://secunia.com/advisories/43898/ -',
      'nginx CVE-2009-2629 0.7.62',
      'ruby19-rack http://groups.google.com/group/rack-devel/browse_thread/thread/a1ec9e7880118867 1.2.2',
    ],
  );
  assert.throws(
    () => parsePkgVulnerabilities(text.replace('zlib<1.1.4', 'zlib<1.1.5'), file),
    code('E_ADVISORY_CHECKSUM'),
  );
  assert.throws(() => parsePkgVulnerabilities(text.slice(0, -1), file), code('E_ADVISORY_FORMAT'));
  const plain = text.replace(/^#CHECKSUM.*\n/m, '');
  assert.match(parsePkgVulnerabilities(plain, file).notes.join(), /no #CHECKSUM line/);
  assert.throws(
    () => parsePkgVulnerabilities(plain.replace('#FORMAT 1.1.0', '#FORMAT 1.2.0'), file),
    code('E_ADVISORY_FORMAT'),
  );
  assert.throws(
    () => parsePkgVulnerabilities(plain.replace('#FORMAT 1.1.0', '#'), file),
    /before the #FORMAT line/,
  );
  assert.throws(() => parsePkgVulnerabilities(`${text}x\0y\n`, file), /NUL byte/);
  assert.throws(() => parsePkgVulnerabilities(`${plain}a<1 b\n`, file), /found 2 field/);
});

test(
  'the signed pkgsrc snapshot verifies with SHA1 and SHA512; one changed byte fails',
  { skip: existsSync(snapshot) ? false : `needs ${snapshot}` },
  () => {
    const text = readFileSync(snapshot, 'latin1');
    const r = parsePkgVulnerabilities(text, snapshot);
    assert.deepEqual(r.verified, ['SHA1', 'SHA512']);
    assert.equal(r.advisories.length, 5104);
    // Without the pkgsrc-security key gpgv still prints the text the signature covers: it is what ferry read.
    const home = mkdtempSync(join(tmpdir(), 'gpgv-'));
    const gpgv = spawnSync('gpgv', ['--homedir', home, '--output', '-', '-'], { input: text });
    rmSync(home, { recursive: true });
    assert.equal(r.signedText, gpgv.stdout.toString('latin1'));
    assert.throws(
      () => parsePkgVulnerabilities(text.replace('zlib<1.1.4', 'zlib<1.1.3'), snapshot),
      code('E_ADVISORY_CHECKSUM'),
    );
  },
);

test('ignores apply until their date; fail-on thresholds; introduced and fixed between two audits', () => {
  const f = (id: string, severity: 'low' | 'high' | 'unknown', aliases: string[] = []) => ({
    name: 'p',
    version: '1',
    id,
    aliases,
    severity,
    summary: '',
    source: 's',
    where: ['x'],
  });
  const findings = [f('A', 'high'), f('B', 'low', ['CVE-1']), f('C', 'unknown')];
  const o = applyIgnores(
    findings,
    [
      { id: 'CVE-1', reason: 'not reachable', until: '2030-01-01' },
      { id: 'A', reason: 'old', until: '2020-01-01' },
    ],
    '2026-11-22',
  );
  assert.deepEqual(
    o.active.map((x) => x.id),
    ['A', 'C'],
  );
  assert.deepEqual(
    o.ignored.map((x) => x.finding.id),
    ['B'],
  );
  assert.deepEqual(
    o.expired.map((x) => x.id),
    ['A'],
  );
  assert.equal(
    applyIgnores(findings, [{ id: 'CVE-1', reason: 'r', until: '2026-11-22' }], '2026-11-22').ignored.length,
    1,
    'through the end of the day',
  );
  assert.deepEqual(failing(findings, 'any').length, 3);
  assert.deepEqual(
    failing(findings, 'low').map((x) => x.id),
    ['A', 'B'],
  );
  assert.deepEqual(failing(findings, 'critical'), []);
  const d = compareAudits([f('A', 'high'), f('B', 'low')], [f('B', 'low'), f('D', 'high')]);
  assert.deepEqual([d.introduced.map((x) => x.id), d.fixed.map((x) => x.id)], [['D'], ['A']]);
});

test('zip reader refuses damaged archives and entries over the limits', () => {
  const data = readFileSync(`${fixtures}osv.zip`);
  assert.equal(readZip(data, 'z', (n) => n.endsWith('.json')).length, 7);
  assert.throws(
    () => readZip(data.subarray(0, data.length - 30), 'z', () => true),
    code('E_ADVISORY_FORMAT'),
  );
  assert.throws(
    () => readZip(data, 'z', () => true, { maxEntries: 100, maxEntryBytes: 100, maxTotalBytes: 1e9 }),
    /over the limit/,
  );
  const bad = Buffer.from(data);
  bad.writeUInt16LE(99, bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
  assert.throws(() => readZip(bad, 'z', () => true), /compression method 99/);
});
