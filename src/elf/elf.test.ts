// readElf against real binaries: ones gcc builds here with known soname and run paths, and the host's own
// programs and libraries, with binutils' readelf and objdump as the independent oracle.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isElf, readElf, type ElfInfo } from './index.js';

const C_ENV = { ...process.env, LANG: 'C', LC_ALL: 'C' };

function run(tool: string, args: readonly string[], cwd?: string): string {
  return execFileSync(tool, args, {
    encoding: 'utf8',
    env: C_ENV,
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
}

function onPath(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A skip reason on a laptop without the tools; in CI a missing tool is a failure, not a skip. */
function skipWithout(...tools: string[]): string | false {
  const absent = tools.filter((t) => !onPath(t));
  if (absent.length === 0) return false;
  if (process.env.CI !== undefined) throw new Error(`CI must provide ${absent.join(', ')} for the ELF tests`);
  return `needs ${absent.join(', ')} (not installed)`;
}

const LS = '/bin/ls';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const onX86_64Linux = os.platform() === 'linux' && os.arch() === 'x64';
const gccSkip = onX86_64Linux
  ? skipWithout('gcc', 'readelf', 'objdump', 'objcopy')
  : 'needs an x86_64 Linux host';
const hostSkip = onX86_64Linux ? skipWithout('readelf', 'objdump') : 'needs an x86_64 Linux host';

/** What readelf says, in ElfInfo's terms. */
interface Oracle {
  readonly type: string;
  readonly interpreter?: string;
  readonly soname?: string;
  readonly needed: readonly string[];
  readonly runpath?: string;
  readonly rpath?: string;
  readonly versionNeeds: Readonly<Record<string, readonly string[]>>;
}

function readelf(path: string): Oracle {
  const out = run('readelf', ['-hldVW', path]);
  const one = (re: RegExp) => re.exec(out)?.[1];
  const interpreter = one(/\[Requesting program interpreter: (.*)\]/);
  const soname = one(/\(SONAME\)\s+Library soname: \[(.*)\]/);
  const runpath = one(/\(RUNPATH\)\s+Library runpath: \[(.*)\]/);
  const rpath = one(/\(RPATH\)\s+Library rpath: \[(.*)\]/);
  return {
    type: one(/^\s*Type:\s+(\w+)/m) ?? '',
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1] ?? ''),
    versionNeeds: readelfVersionNeeds(out),
    ...(interpreter === undefined ? {} : { interpreter }),
    ...(soname === undefined ? {} : { soname }),
    ...(runpath === undefined ? {} : { runpath }),
    ...(rpath === undefined ? {} : { rpath }),
  };
}

/** The "Version needs section '.gnu.version_r'" part of `readelf -V`; the definitions part is not needs. */
function readelfVersionNeeds(out: string): Record<string, string[]> {
  const needs: Record<string, string[]> = {};
  let inNeeds = false;
  let file: string[] | undefined;
  for (const line of out.split('\n')) {
    if (/^Version \w+ section/.test(line)) inNeeds = line.startsWith('Version needs section');
    const f = /File: (\S+)\s+Cnt:/.exec(line)?.[1];
    if (inNeeds && f !== undefined) file = needs[f] = [];
    const n = /Name: (\S+)\s+Flags:/.exec(line)?.[1];
    if (inNeeds && n !== undefined) file?.push(n);
  }
  return needs;
}

/** Highest GLIBC_x.y that objdump shows on an undefined dynamic symbol, ordered by Intl's numeric collation. */
function objdumpMaxGlibc(path: string): string | undefined {
  const versions = [...run('objdump', ['-T', path]).matchAll(/\*UND\*.*\(GLIBC_([\d.]+)\)/g)].map(
    (m) => m[1] ?? '',
  );
  return versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
}

const ELF_TYPES: Readonly<Record<string, ElfInfo['type']>> = {
  EXEC: 'exec',
  DYN: 'dyn',
  REL: 'rel',
  CORE: 'core',
};

function assertMatchesReadelf(path: string): ElfInfo {
  const info = readElf(fs.readFileSync(path)) ?? assert.fail(`${path} is not ELF`);
  const want = readelf(path);
  assert.equal(info.type, ELF_TYPES[want.type] ?? 'other', 'type');
  assert.equal(info.interpreter, want.interpreter, 'interpreter');
  assert.equal(info.soname, want.soname, 'soname');
  assert.deepEqual(info.needed, want.needed, 'needed');
  assert.deepEqual(info.runpath, want.runpath?.split(':') ?? [], 'runpath');
  assert.deepEqual(info.rpath, want.rpath?.split(':') ?? [], 'rpath');
  assert.deepEqual(info.versionNeeds, want.versionNeeds, 'versionNeeds');
  return info;
}

/** Every `step`-th ELF file in `dir` (sorted, regular files only), so the sample is stable across runs. */
function sampleElfFiles(dir: string, limit: number): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  const elves = names
    .map((n) => join(dir, n))
    .filter((p) => fs.lstatSync(p).isFile() && startsWithElfMagic(p));
  const step = Math.max(1, Math.floor(elves.length / limit));
  return elves.filter((_, i) => i % step === 0).slice(0, limit);
}

function startsWithElfMagic(path: string): boolean {
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r');
    return fs.readSync(fd, head, 0, 4, 0) === 4 && isElf(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function assertMalformed(bytes: Uint8Array, label: string): void {
  assert.throws(() => readElf(bytes), /^Error: malformed ELF: /, label);
}

/** Either a result or the reader's own error: never a RangeError, TypeError or hang. */
function parsesOrRejects(bytes: Uint8Array, label: string): 'parsed' | 'rejected' {
  try {
    readElf(bytes);
    return 'parsed';
  } catch (e) {
    assert.ok(e instanceof Error && e.message.startsWith('malformed ELF: '), `${label}: ${String(e)}`);
    return 'rejected';
  }
}

/** Deterministic PRNG (mulberry32), so a failing fuzz case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The program header table of a 64-bit little-endian file, read directly so the test does not trust readElf. */
function phdrTable(bytes: Buffer): {
  readonly offset: number;
  readonly entsize: number;
  readonly count: number;
} {
  return {
    offset: Number(bytes.readBigUInt64LE(32)),
    entsize: bytes.readUInt16LE(54),
    count: bytes.readUInt16LE(56),
  };
}

describe('readElf on files gcc builds', { skip: gccSkip }, () => {
  let dir = '';
  const lib = () => join(dir, 'lib', 'libfoo.so.1');
  const app = (kind: 'runpath' | 'rpath') => join(dir, 'bin', `app-${kind}`);

  before(() => {
    dir = fs.mkdtempSync(join(os.tmpdir(), 'ferry-elf-'));
    fs.mkdirSync(join(dir, 'lib'));
    fs.mkdirSync(join(dir, 'bin'));
    fs.writeFileSync(join(dir, 'foo.c'), '#include <stdio.h>\nint foo(void) { return puts("foo") < 0; }\n');
    fs.writeFileSync(join(dir, 'main.c'), 'int foo(void);\nint main(void) { return foo(); }\n');
    run('gcc', ['-shared', '-fPIC', '-Wl,-soname,libfoo.so.1', '-o', lib(), 'foo.c'], dir);
    for (const [kind, dtags] of [
      ['runpath', '--enable-new-dtags'],
      ['rpath', '--disable-new-dtags'],
    ] as const) {
      const link = ['-Llib', '-l:libfoo.so.1', '-Wl,-rpath,$ORIGIN/../lib', `-Wl,${dtags}`];
      run('gcc', ['-o', app(kind), 'main.c', ...link], dir);
    }
    run('objcopy', ['--only-keep-debug', app('runpath'), join(dir, 'app.debug')]);
  });

  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the fixture program runs, finding its library through $ORIGIN', () => {
    assert.equal(run(app('runpath'), []), 'foo\n');
    assert.equal(run(app('rpath'), []), 'foo\n');
  });

  it('reads a shared library: soname, needed, no interpreter, no run path', () => {
    const info = readElf(fs.readFileSync(lib())) ?? assert.fail('not ELF');
    assert.equal(info.soname, 'libfoo.so.1');
    assert.equal(info.type, 'dyn');
    assert.equal(info.interpreter, undefined);
    assert.deepEqual(info.needed, ['libc.so.6']);
    assert.deepEqual([info.runpath, info.rpath, info.runpathLocation], [[], [], undefined]);
  });

  it('--enable-new-dtags records DT_RUNPATH', () => {
    const info = readElf(fs.readFileSync(app('runpath'))) ?? assert.fail('not ELF');
    assert.deepEqual(info.needed, ['libfoo.so.1', 'libc.so.6']);
    assert.deepEqual([info.runpath, info.rpath], [['$ORIGIN/../lib'], []]);
    assert.deepEqual([info.class, info.endian, info.arch], [64, 'little', 'x86_64']);
    assert.equal(info.interpreter, readelf(app('runpath')).interpreter);
    assert.match(info.interpreter ?? '', /^\/lib(64)?\/ld-linux-x86-64\.so\.2$/);
    assert.equal(info.soname, undefined);
  });

  it('--disable-new-dtags records DT_RPATH', () => {
    const info = readElf(fs.readFileSync(app('rpath'))) ?? assert.fail('not ELF');
    assert.deepEqual([info.runpath, info.rpath], [[], ['$ORIGIN/../lib']]);
  });

  it('records the glibc versions the program needs', () => {
    const info = readElf(fs.readFileSync(app('runpath'))) ?? assert.fail('not ELF');
    assert.ok(info.versionNeeds['libc.so.6']?.some((v) => v.startsWith('GLIBC_2.')));
    assert.match(info.maxGlibc ?? '', /^2\.\d+(\.\d+)?$/);
    assert.equal(info.maxGlibc, objdumpMaxGlibc(app('runpath')));
  });

  for (const kind of ['runpath', 'rpath'] as const) {
    it(`runpathLocation lets a caller rewrite the ${kind} in place`, () => {
      const bytes = fs.readFileSync(app(kind));
      const at = readElf(bytes)?.runpathLocation ?? assert.fail('no runpathLocation');
      assert.equal(bytes.toString('utf8', at.offset, at.offset + at.length), '$ORIGIN/../lib');
      assert.equal(bytes[at.offset + at.length], 0);
      const next = '$ORIGIN/lib';
      bytes.fill(0, at.offset, at.offset + at.length);
      bytes.write(next, at.offset);
      const copy = join(dir, `rewritten-${kind}`);
      fs.writeFileSync(copy, bytes, { mode: 0o755 });
      assert.equal(readelf(copy)[kind], next);
      assert.deepEqual(readElf(bytes)?.[kind], [next]);
    });
  }

  it('reads a separate debug file, whose segments keep no contents, as linking nothing', () => {
    const info = assertMatchesReadelf(join(dir, 'app.debug'));
    assert.deepEqual([info.needed, info.interpreter, info.versionNeeds], [[], undefined, {}]);
  });

  for (const name of ['lib/libfoo.so.1', 'bin/app-runpath', 'bin/app-rpath']) {
    it(`matches readelf on ${name}`, () => {
      assertMatchesReadelf(join(dir, name));
    });
  }

  it('returns undefined for a text file', () => {
    fs.writeFileSync(join(dir, 'notes.txt'), 'not a binary\n');
    const bytes = fs.readFileSync(join(dir, 'notes.txt'));
    assert.equal(isElf(bytes), false);
    assert.equal(readElf(bytes), undefined);
  });
});

describe('readElf on the host system', { skip: hostSkip }, () => {
  const hostFiles = [LS, LIBC].filter((p) => fs.existsSync(p));

  for (const path of hostFiles) {
    it(`matches readelf on ${path}`, () => {
      const info = assertMatchesReadelf(path);
      assert.equal(info.arch, 'x86_64');
      assert.ok(info.maxGlibc !== undefined, 'a glibc program needs some GLIBC_ version');
    });

    it(`maxGlibc of ${path} is objdump's highest GLIBC_ version on an undefined symbol`, () => {
      assert.equal(readElf(fs.readFileSync(path))?.maxGlibc, objdumpMaxGlibc(path));
    });
  }

  it('matches readelf on a sample of /usr/bin and /usr/lib/x86_64-linux-gnu', () => {
    const sample = [...sampleElfFiles('/usr/bin', 30), ...sampleElfFiles('/usr/lib/x86_64-linux-gnu', 20)];
    assert.ok(sample.length > 0, 'the host has ELF files to compare');
    for (const path of sample) {
      try {
        assertMatchesReadelf(path);
      } catch (e) {
        throw new Error(`${path}: ${String(e)}`, { cause: e });
      }
    }
  });

  it('rejects the first 100 bytes of /bin/ls', () => {
    assertMalformed(fs.readFileSync(LS).subarray(0, 100), 'first 100 bytes');
  });

  it('rejects /bin/ls cut anywhere short of its end', () => {
    const bytes = fs.readFileSync(LS);
    for (let n = 4; n < bytes.length; n += 997) assertMalformed(bytes.subarray(0, n), `first ${n} bytes`);
    assertMalformed(bytes.subarray(0, bytes.length - 1), 'all but the last byte');
  });

  it('rejects program headers whose segments point past the end of the file', () => {
    const bytes = Buffer.from(fs.readFileSync(LS));
    const table = phdrTable(bytes);
    for (let i = 0; i < table.count; i++)
      bytes.writeBigUInt64LE(0xffff_ffff_ffffn, table.offset + i * table.entsize + 32);
    assertMalformed(bytes, 'p_filesz 2^48 - 1');
  });

  it('without program headers, falls back to the section headers and finds the same links', () => {
    const bytes = Buffer.from(fs.readFileSync(LS));
    const whole = readElf(bytes) ?? assert.fail();
    bytes.writeUInt16LE(0, 56);
    const linking = Object.fromEntries(Object.entries(whole).filter(([k]) => k !== 'interpreter'));
    assert.deepEqual(readElf(bytes), linking);
  });

  it('reads extended numbering: segment and section counts kept in section header 0', () => {
    const bytes = Buffer.from(fs.readFileSync(LS));
    const whole = readElf(bytes);
    const shoff = Number(bytes.readBigUInt64LE(40));
    bytes.writeUInt32LE(bytes.readUInt16LE(56), shoff + 44); // sh_info = e_phnum
    bytes.writeBigUInt64LE(BigInt(bytes.readUInt16LE(60)), shoff + 32); // sh_size = e_shnum
    bytes.writeUInt16LE(0xffff, 56);
    bytes.writeUInt16LE(0, 60);
    assert.deepEqual(readElf(bytes), whole);
    bytes.writeUInt32LE(0xffff, shoff + 44);
    assertMalformed(bytes, 'sh_info claims 65535 program headers');
  });

  it(
    'random corruption of the program header table parses or is rejected, never hangs',
    { timeout: 60_000 },
    () => {
      const clean = fs.readFileSync(LS);
      const table = phdrTable(clean);
      const next = random(0xe1f);
      let rejected = 0;
      for (let i = 0; i < 1000; i++) {
        const bytes = Buffer.from(clean);
        for (let k = 0; k < 1 + Math.floor(next() * 8); k++)
          bytes[table.offset + Math.floor(next() * table.count * table.entsize)] = Math.floor(next() * 256);
        if (parsesOrRejects(bytes, `case ${i}`) === 'rejected') rejected++;
      }
      assert.ok(rejected > 100, `only ${rejected} of 1000 corruptions were noticed`);
    },
  );
});

it('returns undefined for an empty buffer', () => {
  assert.equal(isElf(new Uint8Array()), false);
  assert.equal(readElf(new Uint8Array()), undefined);
});
