// writeArchive and extractArchive against real tools: GNU tar and python3's tarfile make the archives we must
// read (and read the ones we write), and a hostile corpus built with tarfile at test time must be refused
// without a byte landing outside the target.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isAppError, sha256File } from '../core/index.js';
import { walkTree } from '../platform/index.js';
import { writeArchive } from './archive.js';
import { extractArchive, type ExtractedFile, type ExtractLimits } from './untar.js';

const PYTHON = '/usr/bin/python3';
const ENV = { ...process.env, LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };

function run(tool: string, args: readonly string[], cwd?: string): string {
  return execFileSync(tool, args, {
    encoding: 'utf8',
    env: ENV,
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
}

function works(tool: string, args: readonly string[]): boolean {
  try {
    execFileSync(tool, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A skip reason on a laptop without the tools; in CI a missing tool is a failure, not a skip. */
function skipWithout(tools: Record<string, readonly string[]>): string | false {
  const absent = Object.keys(tools).filter((t) => !works(t, tools[t] ?? []));
  if (absent.length === 0) return false;
  if (process.env.CI !== undefined)
    throw new Error(`CI must provide ${absent.join(', ')} for the archive tests`);
  return `needs ${absent.join(', ')} (not installed)`;
}

const gnuTar = { tar: ['--version'] };
const python = { [PYTHON]: ['-c', 'import tarfile'] };
const toolSkip = skipWithout({ ...gnuTar, ...python });

let tmp = '';
before(async () => {
  tmp = await fs.mkdtemp(join(os.tmpdir(), 'ferry-archive-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

let counter = 0;
async function freshDir(what: string): Promise<string> {
  const dir = join(tmp, `${what}-${++counter}`);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// Trees

interface Node {
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  /** sha256 for files, target for links. */
  readonly content?: string;
}

/** Every entry below `root`, not following links: what a comparison of two trees needs. */
async function snapshot(root: string): Promise<Record<string, Node>> {
  const out: Record<string, Node> = {};
  for (const e of await walkTree(root)) {
    const path = join(root, e.rel);
    const content =
      e.kind === 'file' ? await sha256File(path) : e.kind === 'symlink' ? await fs.readlink(path) : undefined;
    out[e.rel] = {
      kind: e.kind,
      mode: e.kind === 'symlink' ? 0o777 : e.mode,
      ...(content === undefined ? {} : { content }),
    };
  }
  return out;
}

/** What extraction of an archive we wrote must give: our normalised modes. */
function normalised(tree: Record<string, Node>): Record<string, Node> {
  const out: Record<string, Node> = {};
  for (const [p, n] of Object.entries(tree))
    out[p] = {
      ...n,
      mode: n.kind === 'symlink' ? 0o777 : n.kind === 'dir' || (n.mode & 0o111) !== 0 ? 0o755 : 0o644,
    };
  return out;
}

const LONG_DIR = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
const LONGEST = `${'p'.repeat(120)}/${'q'.repeat(120)}/${'r'.repeat(120)}.txt`;

/** A tree with the shapes packages have: modes, empty dirs, links (dangling too), long and UTF-8 names. */
async function makeTree(root: string): Promise<void> {
  const files: [string, string | Buffer, number][] = [
    ['bin/hello', '#!/bin/sh\necho hello\n', 0o755],
    ['bin/private-exec', 'x', 0o700],
    ['bin/setuid', 'x', 0o4755],
    ['lib/libgreet.so.1', Buffer.alloc(70_000, 7), 0o644],
    ['lib/readonly', 'r', 0o444],
    ['lib/private', 'p', 0o600],
    ['lib/world-writable', 'w', 0o666],
    ['share/empty-file', '', 0o644],
    ['share/héllo wörld ✓.txt', 'unicode', 0o644],
    [`share/${LONG_DIR}/file`, 'ustar prefix', 0o644],
    [`share/${LONGEST}`, 'pax path', 0o644],
    ['share/big', pattern(5 * 1024 * 1024 + 123), 0o644],
  ];
  for (const [rel, data, mode] of files) {
    await fs.mkdir(join(root, rel, '..'), { recursive: true });
    await fs.writeFile(join(root, rel), data);
    await fs.chmod(join(root, rel), mode);
  }
  await fs.mkdir(join(root, 'empty/nested-empty'), { recursive: true });
  const links: [string, string][] = [
    ['lib/libgreet.so', 'libgreet.so.1'],
    ['bin/greet-lib', '../lib/libgreet.so'],
    ['share/dangling', 'does-not-exist'],
    ['share/long-link', LONGEST.replace(/^p+\//, '../share/').slice(0, 200)],
    ['self', '.'],
  ];
  for (const [rel, target] of links) await fs.symlink(target, join(root, rel));
}

function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7919) % 251;
  return b;
}

function byPath(entries: readonly ExtractedFile[]): Record<string, ExtractedFile> {
  return Object.fromEntries(entries.map((e) => [e.path, e]));
}

/** The entries extractArchive returns must describe the tree it made. */
function assertEntriesMatch(entries: readonly ExtractedFile[], tree: Record<string, Node>): void {
  const got = byPath(entries);
  assert.deepEqual(Object.keys(got).sort(), Object.keys(tree).sort());
  for (const [p, n] of Object.entries(tree)) {
    const e = got[p];
    assert.equal(e?.kind, n.kind, p);
    assert.equal(e.mode, n.mode, p);
    if (n.kind === 'file') assert.equal(e.sha256, n.content, p);
    if (n.kind === 'symlink') assert.equal(e.linkTarget, n.content, p);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Round trips

describe('writeArchive then extractArchive', () => {
  let src = '';
  let tree: Record<string, Node> = {};
  before(async () => {
    src = join(await freshDir('src'), 'tree');
    await makeTree(src);
    tree = await snapshot(src);
  });

  it('gives the same tree: files, normalised modes, symlinks, empty directories', async () => {
    const dir = await freshDir('rt');
    const w = await writeArchive(src, join(dir, 'a.tar.gz'));
    assert.equal(w.entries, Object.keys(tree).length);
    assert.equal(w.bytes, (await fs.stat(join(dir, 'a.tar.gz'))).size);
    assert.equal(w.sha256, await sha256File(join(dir, 'a.tar.gz')));
    const entries = await extractArchive(join(dir, 'a.tar.gz'), join(dir, 'out'));
    const want = normalised(tree);
    assert.deepEqual(await snapshot(join(dir, 'out')), want);
    assertEntriesMatch(entries, want);
    assert.equal(byPath(entries)['share/big']?.size, 5 * 1024 * 1024 + 123);
  });

  it('with readOnly, leaves every file and directory below the target without write bits', async () => {
    const dir = await freshDir('ro');
    await writeArchive(src, join(dir, 'a.tar.gz'));
    const entries = await extractArchive(join(dir, 'a.tar.gz'), join(dir, 'out'), { readOnly: true });
    const want: Record<string, Node> = {};
    for (const [p, n] of Object.entries(normalised(tree)))
      want[p] = n.kind === 'symlink' ? n : { ...n, mode: n.mode & ~0o222 };
    assert.deepEqual(await snapshot(join(dir, 'out')), want);
    assertEntriesMatch(
      entries.filter((e) => e.kind !== 'dir'),
      Object.fromEntries(Object.entries(want).filter(([, n]) => n.kind !== 'dir')),
    );
    assert.equal((await fs.stat(join(dir, 'out'))).mode & 0o777, 0o755);
    // A failed read-only extraction is removed completely too.
    const cut = join(dir, 'cut.tar.gz');
    const whole = gunzipSync(await fs.readFile(join(dir, 'a.tar.gz')));
    await fs.writeFile(cut, gzipSync(whole.subarray(0, whole.length - 4096)));
    await assert.rejects(
      extractArchive(cut, join(dir, 'out-cut'), { readOnly: true }),
      /truncated|end-of-archive/,
    );
    assert.equal(existsSync(join(dir, 'out-cut')), false);
  });

  it('gives the same modes under a umask that takes bits away (077)', async () => {
    const dir = await freshDir('umask');
    await writeArchive(src, join(dir, 'a.tar.gz'));
    const untar = new URL('./untar.js', import.meta.url).href;
    const script = `import(${JSON.stringify(untar)}).then((m) => Promise.all([
      m.extractArchive(process.argv[1], process.argv[2]),
      m.extractArchive(process.argv[1], process.argv[3], { readOnly: true }),
    ]))`;
    const args = [join(dir, 'a.tar.gz'), join(dir, 'out'), join(dir, 'out-ro')];
    execFileSync('sh', ['-c', 'umask 077 && exec "$@"', 'sh', process.execPath, '-e', script, ...args]);
    assert.deepEqual(await snapshot(join(dir, 'out')), normalised(tree));
    for (const [p, n] of Object.entries(await snapshot(join(dir, 'out-ro'))))
      assert.equal(n.mode, n.kind === 'symlink' ? 0o777 : (normalised(tree)[p]?.mode ?? 0) & ~0o222, p);
  });

  it('puts entries under a prefix when given one', async () => {
    const dir = await freshDir('prefix');
    const w = await writeArchive(src, join(dir, 'a.tar.gz'), { prefix: 'pkg/hello-1.0' });
    assert.equal(w.entries, Object.keys(tree).length + 2);
    await extractArchive(join(dir, 'a.tar.gz'), join(dir, 'out'));
    assert.deepEqual(await snapshot(join(dir, 'out', 'pkg/hello-1.0')), normalised(tree));
  });

  it('writes the same bytes for the same tree, whatever the mtimes and umask-ish modes on disk', async () => {
    const dir = await freshDir('det');
    const first = await writeArchive(src, join(dir, '1.tar.gz'));
    const copy = join(dir, 'copy');
    await fs.cp(src, copy, { recursive: true, verbatimSymlinks: true });
    for (const e of await walkTree(copy)) {
      if (e.kind === 'symlink') continue;
      await fs.utimes(join(copy, e.rel), 1_234_567_890, 1_234_567_890);
      if (e.kind === 'file') await fs.chmod(join(copy, e.rel), (e.mode & 0o111) !== 0 ? 0o711 : 0o600);
    }
    const second = await writeArchive(copy, join(dir, '2.tar.gz'));
    assert.equal(second.sha256, first.sha256);
    assert.deepEqual(await fs.readFile(join(dir, '2.tar.gz')), await fs.readFile(join(dir, '1.tar.gz')));
    const other = await writeArchive(src, join(dir, '3.tar.gz'), { mtime: 1_700_000_000 });
    assert.notEqual(other.sha256, first.sha256, 'opts.mtime is recorded');
  });

  it('replaces an existing output file and leaves no temporary file behind', async () => {
    const dir = await freshDir('atomic');
    await fs.writeFile(join(dir, 'a.tar.gz'), 'old');
    const w = await writeArchive(src, join(dir, 'a.tar.gz'), { level: 1 });
    assert.equal(w.sha256, await sha256File(join(dir, 'a.tar.gz')));
    assert.deepEqual(await fs.readdir(dir), ['a.tar.gz']);
  });

  it('refuses to archive a FIFO, and writes nothing', async () => {
    const dir = await freshDir('fifo-src');
    await fs.mkdir(join(dir, 'tree'));
    run('mkfifo', [join(dir, 'tree', 'pipe')]);
    await assert.rejects(
      writeArchive(join(dir, 'tree'), join(dir, 'a.tar.gz')),
      code('E_ARCHIVE_UNSAFE', /pipe/),
    );
    assert.deepEqual(await fs.readdir(dir), ['tree']);
  });

  it('reads a stream to its very end (a caller can hash it on the way), and plain tar too', async () => {
    const dir = await freshDir('stream');
    const file = join(dir, 'a.tar.gz');
    await writeArchive(src, file);
    const hash = createHash('sha256');
    const tee = new PassThrough();
    tee.on('data', (chunk: Buffer) => hash.update(chunk));
    createReadStream(file, { highWaterMark: 1000 }).pipe(tee);
    await extractArchive(tee, join(dir, 'out'));
    assert.equal(hash.digest('hex'), await sha256File(file));
    const plain = join(dir, 'a.tar');
    await fs.writeFile(plain, gunzipSync(await fs.readFile(file)));
    await extractArchive(plain, join(dir, 'out-plain'));
    assert.deepEqual(await snapshot(join(dir, 'out-plain')), normalised(tree));
  });

  it('gives the same tree however the bytes are cut: headers, pax records and data split anywhere', async () => {
    const dir = await freshDir('pieces');
    await writeArchive(src, join(dir, 'a.tar.gz'));
    const plain = gunzipSync(await fs.readFile(join(dir, 'a.tar.gz')));
    const whole = await extractArchive(join(dir, 'a.tar.gz'), join(dir, 'out'));
    // Pieces of 1, 7, 511 and 513 bytes in turn put every boundary inside a header, a record and a file.
    const sizes = [1, 7, 511, 513];
    const pieces: Buffer[] = [];
    for (let off = 0, i = 0; off < plain.length; i++) {
      const n = sizes[i % sizes.length] ?? 1;
      pieces.push(plain.subarray(off, off + n));
      off += n;
    }
    const entries = await extractArchive(Readable.from(pieces), join(dir, 'out-cut'));
    assert.deepEqual(entries, whole);
    assert.deepEqual(await snapshot(join(dir, 'out-cut')), normalised(tree));
  });

  it('refuses a target that exists, and leaves it alone', async () => {
    const dir = await freshDir('exists');
    await writeArchive(src, join(dir, 'a.tar.gz'));
    await fs.mkdir(join(dir, 'out'));
    await fs.writeFile(join(dir, 'out', 'mine'), 'keep');
    await assert.rejects(extractArchive(join(dir, 'a.tar.gz'), join(dir, 'out')), /exists/);
    assert.deepEqual(await fs.readdir(join(dir, 'out')), ['mine']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real tools

describe('interoperability with GNU tar and python tarfile', { skip: toolSkip }, () => {
  let src = '';
  let ours = '';
  let tree: Record<string, Node> = {};
  before(async () => {
    const dir = await freshDir('interop');
    src = join(dir, 'tree');
    await makeTree(src);
    tree = await snapshot(src);
    ours = join(dir, 'ours.tar.gz');
    await writeArchive(src, ours);
  });

  it('GNU tar -tzvf lists our archive: names, modes, owner 0/0, mtime 0, link targets', () => {
    const lines = run('tar', ['-tzvf', ours, '--numeric-owner', '--quoting-style=literal'])
      .trimEnd()
      .split('\n');
    const want = normalised(tree);
    assert.equal(lines.length, Object.keys(want).length);
    for (const line of lines) {
      const m = /^([-dl])([-rwxsStT]{9}) 0\/0 +(\d+) 1970-01-01 00:00 (.*?)(?: -> (.*))?$/.exec(line);
      assert.ok(m, `unexpected line: ${line}`);
      const [, type, perms, size, name = '', target] = m;
      const path = name.replace(/\/$/, '');
      const node = want[path];
      assert.ok(node, `unexpected entry ${path}`);
      assert.equal(type, { file: '-', dir: 'd', symlink: 'l' }[node.kind], path);
      assert.equal(
        perms,
        node.kind === 'symlink' ? 'rwxrwxrwx' : node.mode === 0o755 ? 'rwxr-xr-x' : 'rw-r--r--',
      );
      if (node.kind === 'symlink') assert.equal(target, node.content);
      if (node.kind !== 'file') assert.equal(size, '0');
    }
  });

  it('GNU tar extracts our archive to the same tree', async () => {
    const out = await freshDir('gnu-x');
    run('tar', ['-xzf', ours, '-C', out, '--no-same-owner']);
    assert.deepEqual(await snapshot(out), normalised(tree));
  });

  it('python tarfile reads our archive with the same names and link targets', () => {
    const script =
      'import json,sys,tarfile\n' +
      'print(json.dumps({m.name: [m.type.decode(), m.linkname, m.size] for m in tarfile.open(sys.argv[1])}))';
    const got = JSON.parse(run(PYTHON, ['-c', script, ours])) as Record<string, [string, string, number]>;
    assert.deepEqual(Object.keys(got).sort(), Object.keys(tree).sort());
    for (const [p, [type, link]] of Object.entries(got)) {
      assert.equal(type, { file: '0', dir: '5', symlink: '2' }[tree[p]?.kind ?? 'file'], p);
      if (type === '2') assert.equal(link, tree[p]?.content);
    }
  });

  for (const format of ['gnu', 'posix', 'oldgnu'])
    it(`extracts what GNU tar --format=${format} writes`, async () => {
      const dir = await freshDir(`gnu-${format}`);
      const file = join(dir, 'a.tar.gz');
      run('tar', [`--format=${format}`, '-czf', file, '-C', src, '.']);
      const entries = await extractArchive(file, join(dir, 'out'));
      const got = await snapshot(join(dir, 'out'));
      assert.deepEqual(got, extractedModes(tree));
      assertEntriesMatch(entries, got);
    });

  it('extracts what GNU tar --format=ustar writes (names up to 255 bytes, split at a slash)', async () => {
    const dir = await freshDir('gnu-ustar');
    const file = join(dir, 'a.tar.gz');
    run('tar', ['--format=ustar', '-czf', file, '-C', src, 'bin', 'lib', `share/${LONG_DIR}`]);
    await extractArchive(file, join(dir, 'out'));
    const got = await snapshot(join(dir, 'out'));
    assert.equal(got[`share/${LONG_DIR}/file`]?.kind, 'file');
    assert.equal(got['lib/libgreet.so']?.content, 'libgreet.so.1');
  });

  it('reads base-256 numbers GNU tar writes for a large uid', async () => {
    const dir = await freshDir('gnu-b256');
    const file = join(dir, 'a.tar.gz');
    run('tar', [
      '--format=gnu',
      '--owner=big:3000000000',
      '--group=big:3000000000',
      '-czf',
      file,
      '-C',
      src,
      'bin',
    ]);
    assert.match(run('tar', ['-tzvf', file, '--numeric-owner']), / 3000000000\/3000000000 /);
    const entries = await extractArchive(file, join(dir, 'out'));
    assert.equal(byPath(entries)['bin/hello']?.size, 21);
  });

  for (const format of ['PAX_FORMAT', 'GNU_FORMAT', 'USTAR_FORMAT'])
    it(`extracts what python tarfile ${format} writes: long and UTF-8 names, long links, huge ids`, async () => {
      const dir = await freshDir(`py-${format}`);
      const file = join(dir, 'a.tar.gz');
      const ustar = format === 'USTAR_FORMAT';
      run(PYTHON, ['-c', PY_FORMATS, file, format]);
      const entries = await extractArchive(file, join(dir, 'out'));
      const got = await snapshot(join(dir, 'out'));
      const long = ustar ? `${'d'.repeat(100)}/${'f'.repeat(100)}` : `${'d'.repeat(100)}/${'f'.repeat(200)}`;
      assert.equal(got[long]?.content, sha256(Buffer.from('long')));
      assert.equal(got['dir/héllo wörld ✓']?.content, sha256(Buffer.from('utf')));
      assert.equal(got['dir/link']?.content, ustar ? 'x'.repeat(90) : 'x'.repeat(150));
      assert.equal(got.executable?.mode, 0o755);
      assert.equal(got.empty?.kind, 'dir');
      assertEntriesMatch(entries, got);
    });
});

/** python tarfile archive in a given format; USTAR cannot hold the longest names or ids. */
const PY_FORMATS = String.raw`
import io, sys, tarfile
path, fmt = sys.argv[1], getattr(tarfile, sys.argv[2])
ustar = fmt == tarfile.USTAR_FORMAT
def add(t, name, type=tarfile.REGTYPE, data=b'', mode=0o644, link=''):
    ti = tarfile.TarInfo(name); ti.type = type; ti.mode = mode; ti.linkname = link
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    if not ustar: ti.uid = ti.gid = 3 * 10**9; ti.mtime = 2**40
    t.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)
with tarfile.open(path, 'w:gz', format=fmt) as t:
    add(t, 'dir', tarfile.DIRTYPE, mode=0o755)
    add(t, 'dir/héllo wörld ✓', data=b'utf')
    add(t, 'd' * 100, tarfile.DIRTYPE, mode=0o755)
    add(t, 'd' * 100 + '/' + 'f' * (100 if ustar else 200), data=b'long')
    add(t, 'dir/link', tarfile.SYMTYPE, link='x' * (90 if ustar else 150), mode=0o777)
    add(t, 'executable', data=b'#!', mode=0o775)
    add(t, 'empty', tarfile.DIRTYPE, mode=0o700)
`;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Modes after extracting a foreign archive of `tree`: rwx without group/other write, owner rw(x) kept. */
function extractedModes(tree: Record<string, Node>): Record<string, Node> {
  const out: Record<string, Node> = {};
  for (const [p, n] of Object.entries(tree))
    out[p] = {
      ...n,
      mode: n.kind === 'symlink' ? 0o777 : (n.mode & 0o755) | (n.kind === 'dir' ? 0o700 : 0o600),
    };
  return out;
}

function code(want: string, message?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
    assert.equal(e.code, want, e.message);
    if (message !== undefined) assert.match(e.message, message);
    assert.ok(e.hint !== undefined && e.hint.length > 0, 'every refusal has a hint');
    return true;
  };
}

// ---------------------------------------------------------------------------------------------------------
// The hostile corpus

/**
 * Builds every case into ARCHIVES/<case>.tar.gz. CASES/<case>/t/outside is the sentinel tree next to the
 * target; absolute names aim into it so the test can see that nothing lands there.
 */
const PY_HOSTILE = String.raw`
import gzip, io, os, sys, tarfile
out, cases = sys.argv[1], sys.argv[2]
def outside(case): return os.path.join(cases, case, 't', 'outside')
def reg(name, data=b'', mode=0o644):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode
    return ti, io.BytesIO(data)
def special(name, type, link='', mode=0o644, **kw):
    ti = tarfile.TarInfo(name); ti.type = type; ti.linkname = link; ti.mode = mode
    for k, v in kw.items(): setattr(ti, k, v)
    return ti, None
def sym(name, target): return special(name, tarfile.SYMTYPE, target, 0o777)
def d(name, mode=0o755): return special(name, tarfile.DIRTYPE, mode=mode)
def pax(name, headers, data=b'x'):
    ti, f = reg(name, data); ti.pax_headers = headers; return ti, f
def tar(entries, fmt=tarfile.PAX_FORMAT, **kw):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt, **kw) as t:
        for ti, f in entries: t.addfile(ti, f)
    return buf.getvalue()
def raw(name, data):
    with open(os.path.join(out, name + '.tar.gz'), 'wb') as f: f.write(data)
def gz(name, data): raw(name, gzip.compress(data, 9, mtime=0))
def make(name, entries, **kw): gz(name, tar(entries, **kw))

make('dotdot', [reg('../escape', b'x')])
make('dotdot-inner', [d('a'), reg('a/../../escape', b'x')])
make('absolute', [reg(outside('absolute') + '/pwned', b'x')])
make('symlink-write-through', [sym('link', '../outside'), reg('link/pwned', b'x')])
make('symlink-write-through-inside', [d('dir'), sym('link', 'dir'), reg('link/file', b'x')])
make('symlink-replaced-by-file', [sym('link', 'dir'), reg('link', b'x')])
make('symlink-outside', [sym('link', '../outside')])
make('symlink-absolute', [sym('link', outside('symlink-absolute'))])
make('symlink-etc', [sym('link', '/etc'), reg('link/passwd', b'x')])
make('symlink-chain', [d('sub'), sym('sub/up', '..'), sym('x', 'sub/up/../outside'), reg('x/pwned', b'x')])
make('symlink-chain-late', [sym('x', 'sub/up/../outside'), d('sub'), sym('sub/up', '..')])
make('symlink-to-escaping-link', [sym('b', '../outside'), sym('a', 'b')])
make('symlink-loop', [sym('a', 'b'), sym('b', 'a')])
make('hardlink-outside', [special('hl', tarfile.LNKTYPE, '../outside/keep')])
make('hardlink-inside', [reg('a', b'x'), special('b', tarfile.LNKTYPE, 'a')])
make('char-device', [special('null', tarfile.CHRTYPE, devmajor=1, devminor=3)])
make('block-device', [special('sda', tarfile.BLKTYPE, devmajor=8, devminor=0)])
make('fifo', [special('fifo', tarfile.FIFOTYPE)])
make('contiguous', [special('c', tarfile.CONTTYPE)])
make('unknown-type', [special('v', b'V')])
make('duplicate', [reg('a', b'one'), reg('a', b'two')])
make('duplicate-normalised', [reg('a/b', b'one'), reg('./a//b', b'two')])
make('duplicate-dir', [d('a'), d('a/')])
make('pax-dotdot', [pax('benign', {'path': '../escape'})])
make('pax-absolute', [pax('benign', {'path': outside('pax-absolute') + '/pwned'})])
make('pax-nul', [pax('benign', {'path': 'a\x00b'})])
make('pax-linkpath-escape', [special('l', tarfile.SYMTYPE, 'ok', 0o777, pax_headers={'linkpath': '../outside'})])
make('pax-global-path', [reg('a', b'x')], pax_headers={'path': 'evil'})
make('pax-sparse', [pax('s', {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 's', 'GNU.sparse.realsize': '1'})])
make('gnu-long-dotdot', [reg('x' * 120 + '/../../escape', b'x')], fmt=tarfile.GNU_FORMAT)
make('gnu-longlink-absolute', [sym('l', '/' + 'y' * 150)], fmt=tarfile.GNU_FORMAT)
make('empty-name', [pax('benign', {'path': ''})])
make('root-as-file', [reg('./', b'')])
make('too-many-entries', [reg('f%d' % i, b'x') for i in range(20)])
make('too-much-data', [reg('f%d' % i, b'x' * 4096) for i in range(3)])
make('file-too-big', [reg('f', b'x' * 5000)])
make('dir-with-data', [special('d', tarfile.DIRTYPE, size=10)])

# Bombs as concatenated gzip members (gunzip reads them as one stream): 1 MB of zeros compresses to ~1 KB
# once, and repeating that member makes a bomb of any size instantly.
zeros = gzip.compress(bytes(10**6), 9, mtime=0)
header = tarfile.TarInfo('zeros'); header.size = 10**9
raw('bomb', gzip.compress(header.tobuf(tarfile.PAX_FORMAT), 9, mtime=0) + zeros * 1000 + gzip.compress(bytes(1024), 9, mtime=0))
raw('bomb-trailer', gzip.compress(tar([reg('a', b'x')]), 9, mtime=0) + zeros * 1000)

full = tar([reg('f', os.urandom(100000))])
raw('truncated-gzip', gzip.compress(full, 6)[:50000])
gz('truncated-tar', full[:3000])
gz('truncated-header', tar([reg('a'), reg('b')])[:512 + 200])
gz('no-end-marker', tar([reg('a', b'x')])[:1024])
gz('one-zero-block-then-data', tar([reg('a', b'x')])[:1024] + bytes(512) + tar([reg('b', b'y')]))
bad = bytearray(tar([reg('abc', b'x')], fmt=tarfile.USTAR_FORMAT)); bad[0] = ord('x')
gz('bad-checksum', bytes(bad))
gz('trailing-garbage', tar([reg('a', b'x')]) + b'garbage')
broken = bytearray(gzip.compress(tar([reg('f', os.urandom(50000))]), 6))
for i in range(len(broken) // 2, len(broken) // 2 + 32): broken[i] ^= 0xff
raw('bad-gzip-data', bytes(broken))
crc = bytearray(gzip.compress(tar([reg('f', b'hello')]), 6)); crc[-8] ^= 0xff
raw('bad-gzip-crc', bytes(crc))
raw('bad-gzip-header', b'\x1f\x8b\x09' + os.urandom(100))
raw('not-tar', os.urandom(4096))
raw('empty', b'')

make('modes', [reg('suid', b'x', 0o4755), reg('sgid-world-writable', b'x', 0o2777), d('sticky', 0o1777), reg('no-perms', b'x', 0o000)])
make('dotted-names', [d('./'), reg('./a', b'x'), reg('b//c', b'y'), d('./d/'), d('b')])
`;

interface Case {
  readonly name: string;
  readonly code: 'E_ARCHIVE_UNSAFE' | 'E_ARCHIVE_LIMIT' | 'E_ARCHIVE_CORRUPT';
  /** Part of the message: the reason, and the entry where there is one. */
  readonly message: RegExp;
  readonly limits?: Partial<ExtractLimits>;
}

const CASES: readonly Case[] = [
  { name: 'dotdot', code: 'E_ARCHIVE_UNSAFE', message: /"\.\.\/escape" climbs out/ },
  { name: 'dotdot-inner', code: 'E_ARCHIVE_UNSAFE', message: /"a\/\.\.\/\.\.\/escape" climbs out/ },
  { name: 'absolute', code: 'E_ARCHIVE_UNSAFE', message: /outside\/pwned" is an absolute path/ },
  { name: 'symlink-write-through', code: 'E_ARCHIVE_UNSAFE', message: /"link" points outside the target/ },
  {
    name: 'symlink-write-through-inside',
    code: 'E_ARCHIVE_UNSAFE',
    message: /"link\/file" goes through the symbolic link "link"/,
  },
  { name: 'symlink-replaced-by-file', code: 'E_ARCHIVE_UNSAFE', message: /"link" appears twice/ },
  { name: 'symlink-outside', code: 'E_ARCHIVE_UNSAFE', message: /"link" points outside the target/ },
  { name: 'symlink-absolute', code: 'E_ARCHIVE_UNSAFE', message: /"link" points to the absolute path/ },
  { name: 'symlink-etc', code: 'E_ARCHIVE_UNSAFE', message: /"link" points to the absolute path "\/etc"/ },
  { name: 'symlink-chain', code: 'E_ARCHIVE_UNSAFE', message: /"x" points outside the target/ },
  { name: 'symlink-chain-late', code: 'E_ARCHIVE_UNSAFE', message: /"x" points outside the target/ },
  { name: 'symlink-to-escaping-link', code: 'E_ARCHIVE_UNSAFE', message: /"b" points outside/ },
  { name: 'symlink-loop', code: 'E_ARCHIVE_UNSAFE', message: /loop/ },
  {
    name: 'hardlink-outside',
    code: 'E_ARCHIVE_UNSAFE',
    message: /"hl" is a hard link.*never contain hard links.*outside\/keep/,
  },
  { name: 'hardlink-inside', code: 'E_ARCHIVE_UNSAFE', message: /"b" is a hard link/ },
  { name: 'char-device', code: 'E_ARCHIVE_UNSAFE', message: /"null" is a character device/ },
  { name: 'block-device', code: 'E_ARCHIVE_UNSAFE', message: /"sda" is a block device/ },
  { name: 'fifo', code: 'E_ARCHIVE_UNSAFE', message: /"fifo" is a FIFO/ },
  { name: 'contiguous', code: 'E_ARCHIVE_UNSAFE', message: /"c" is a contiguous file/ },
  { name: 'unknown-type', code: 'E_ARCHIVE_UNSAFE', message: /"v" has the unsupported type "V"/ },
  { name: 'duplicate', code: 'E_ARCHIVE_UNSAFE', message: /"a" appears twice/ },
  { name: 'duplicate-normalised', code: 'E_ARCHIVE_UNSAFE', message: /"a\/b" appears twice/ },
  { name: 'duplicate-dir', code: 'E_ARCHIVE_UNSAFE', message: /"a" appears twice/ },
  { name: 'pax-dotdot', code: 'E_ARCHIVE_UNSAFE', message: /"\.\.\/escape" climbs out/ },
  { name: 'pax-absolute', code: 'E_ARCHIVE_UNSAFE', message: /is an absolute path/ },
  { name: 'pax-nul', code: 'E_ARCHIVE_UNSAFE', message: /"a\\u0000b" contains a NUL byte/ },
  { name: 'pax-linkpath-escape', code: 'E_ARCHIVE_UNSAFE', message: /"l" points outside/ },
  {
    name: 'pax-global-path',
    code: 'E_ARCHIVE_UNSAFE',
    message: /the archive has a global pax header that sets "path" for all entries/,
  },
  { name: 'pax-sparse', code: 'E_ARCHIVE_UNSAFE', message: /the archive has a GNU sparse file/ },
  { name: 'gnu-long-dotdot', code: 'E_ARCHIVE_UNSAFE', message: /x{120}\/\.\.\/\.\.\/escape" climbs out/ },
  {
    name: 'gnu-longlink-absolute',
    code: 'E_ARCHIVE_UNSAFE',
    message: /"l" points to the absolute path "\/y{150}"/,
  },
  { name: 'empty-name', code: 'E_ARCHIVE_UNSAFE', message: /has an empty name/ },
  { name: 'root-as-file', code: 'E_ARCHIVE_UNSAFE', message: /names the target directory itself/ },
  {
    name: 'too-many-entries',
    code: 'E_ARCHIVE_LIMIT',
    message: /"f10" is past the entry-count limit maxEntries = 10/,
    limits: { maxEntries: 10 },
  },
  {
    name: 'too-much-data',
    code: 'E_ARCHIVE_LIMIT',
    message: /"f2" brings file data past the total-size limit maxTotalBytes = 10000/,
    limits: { maxTotalBytes: 10_000 },
  },
  {
    name: 'file-too-big',
    code: 'E_ARCHIVE_LIMIT',
    message: /"f" is 5000 bytes, over the per-file limit maxFileBytes = 4096/,
    limits: { maxFileBytes: 4096 },
  },
  { name: 'dir-with-data', code: 'E_ARCHIVE_CORRUPT', message: /"d" is a dir with 10 bytes of data/ },
  {
    name: 'truncated-gzip',
    code: 'E_ARCHIVE_CORRUPT',
    message: /the archive is not valid gzip data \(unexpected end of file\) \(last entry: "f"\)/,
  },
  { name: 'truncated-tar', code: 'E_ARCHIVE_CORRUPT', message: /"f" is truncated/ },
  {
    name: 'truncated-header',
    code: 'E_ARCHIVE_CORRUPT',
    message: /the archive is truncated in a header \(last entry: "a"\)/,
  },
  {
    name: 'no-end-marker',
    code: 'E_ARCHIVE_CORRUPT',
    message: /the archive ends without an end-of-archive marker \(last entry: "a"\)/,
  },
  {
    name: 'one-zero-block-then-data',
    code: 'E_ARCHIVE_CORRUPT',
    message: /data after its end-of-archive marker/,
  },
  { name: 'trailing-garbage', code: 'E_ARCHIVE_CORRUPT', message: /data after its end-of-archive marker/ },
  {
    name: 'bad-checksum',
    code: 'E_ARCHIVE_CORRUPT',
    message: /the archive has a bad header: header checksum is \d+, the header sums to \d+$/,
  },
  { name: 'bad-gzip-data', code: 'E_ARCHIVE_CORRUPT', message: /not valid gzip data/ },
  { name: 'bad-gzip-crc', code: 'E_ARCHIVE_CORRUPT', message: /not valid gzip data/ },
  { name: 'bad-gzip-header', code: 'E_ARCHIVE_CORRUPT', message: /not valid gzip data/ },
  { name: 'not-tar', code: 'E_ARCHIVE_CORRUPT', message: /bad header/ },
  { name: 'empty', code: 'E_ARCHIVE_CORRUPT', message: /the archive ends without an end-of-archive marker$/ },
];

/** The sentinel next to the target, then a snapshot of everything the case could touch. */
async function prepareCase(casesDir: string, name: string): Promise<{ caseDir: string; target: string }> {
  const caseDir = join(casesDir, name);
  await fs.mkdir(join(caseDir, 't', 'outside'), { recursive: true });
  await fs.writeFile(join(caseDir, 't', 'outside', 'keep'), 'sentinel');
  return { caseDir, target: join(caseDir, 't', 'target') };
}

async function fullSnapshot(dir: string): Promise<Record<string, Node & { size: number; mtimeMs?: number }>> {
  const out: Record<string, Node & { size: number; mtimeMs?: number }> = {};
  const nodes = await snapshot(dir);
  for (const [rel, n] of Object.entries(nodes)) {
    const st = await fs.lstat(join(dir, rel));
    out[rel] = {
      ...n,
      size: n.kind === 'dir' ? 0 : st.size,
      ...(n.kind === 'file' ? { mtimeMs: st.mtimeMs } : {}),
    };
  }
  return out;
}

describe('hostile archives', { skip: skipWithout(python) }, () => {
  let archives = '';
  let casesDir = '';
  before(() => {
    archives = join(tmp, 'hostile-archives');
    casesDir = join(tmp, 'hostile-cases');
    execFileSync('mkdir', ['-p', archives, casesDir]);
    run(PYTHON, ['-c', PY_HOSTILE, archives, casesDir]);
  });

  for (const c of CASES)
    it(`${c.name}: ${c.code}, nothing written outside, target removed`, async () => {
      const { caseDir, target } = await prepareCase(casesDir, c.name);
      const before = await fullSnapshot(caseDir);
      const file = join(archives, `${c.name}.tar.gz`);
      await assert.rejects(
        extractArchive(file, target, { label: `cache:${c.name}`, ...(c.limits ? { limits: c.limits } : {}) }),
        code(c.code, new RegExp(`^cache:${c.name}: .*${c.message.source}`)),
      );
      assert.deepEqual(await fullSnapshot(caseDir), before);
      await assert.rejects(fs.lstat(target), { code: 'ENOENT' });
    });

  it('the gzip bomb (1 GB of zeros, 10 MB limit) stops at the header, having read little input', async () => {
    const { caseDir, target } = await prepareCase(casesDir, 'bomb');
    const before = await fullSnapshot(caseDir);
    const file = join(archives, 'bomb.tar.gz');
    let pulled = 0;
    const input = createReadStream(file, { highWaterMark: 4096 });
    input.on('data', (chunk) => (pulled += chunk.length));
    const started = Date.now();
    await assert.rejects(
      extractArchive(input, target, { limits: { maxTotalBytes: 10_000_000 }, label: 'bomb' }),
      code('E_ARCHIVE_LIMIT', /"zeros" brings file data past the total-size limit maxTotalBytes = 10000000/),
    );
    const size = (await fs.stat(file)).size;
    assert.ok(pulled < size / 4, `read ${pulled} of ${size} compressed bytes`);
    assert.ok(Date.now() - started < 2000, 'stops quickly');
    assert.deepEqual(await fullSnapshot(caseDir), before);
    await assert.rejects(fs.lstat(target), { code: 'ENOENT' });
  });

  it('a bomb after the end-of-archive marker (1 GB of zero padding) stops after about 1 MiB', async () => {
    const { target } = await prepareCase(casesDir, 'bomb-trailer');
    const file = join(archives, 'bomb-trailer.tar.gz');
    let pulled = 0;
    const input = createReadStream(file, { highWaterMark: 4096 });
    input.on('data', (chunk) => (pulled += chunk.length));
    await assert.rejects(
      extractArchive(input, target),
      code('E_ARCHIVE_LIMIT', /the archive decompresses to more than its headers and sizes account for/),
    );
    const size = (await fs.stat(file)).size;
    assert.ok(pulled < size / 4, `read ${pulled} of ${size} compressed bytes`);
    await assert.rejects(fs.lstat(target), { code: 'ENOENT' });
  });

  it('setuid, setgid, sticky and group/other write are dropped; the file is still extracted', async () => {
    const { caseDir, target } = await prepareCase(casesDir, 'modes');
    const entries = await extractArchive(join(archives, 'modes.tar.gz'), target);
    const modes = Object.fromEntries(entries.map((e) => [e.path, e.mode]));
    assert.deepEqual(modes, { suid: 0o755, 'sgid-world-writable': 0o755, sticky: 0o755, 'no-perms': 0o600 });
    for (const [p, mode] of Object.entries(modes))
      assert.equal((await fs.lstat(join(target, p))).mode & 0o7777, mode, p);
    await fs.rm(join(caseDir, 't', 'target'), { recursive: true });
  });

  it('normalises "./a", "b//c" and a "./" root entry; a directory entry after its contents is fine', async () => {
    const { target } = await prepareCase(casesDir, 'dotted-names');
    const entries = await extractArchive(join(archives, 'dotted-names.tar.gz'), target);
    assert.deepEqual(
      entries.map((e) => [e.path, e.kind]),
      [
        ['a', 'file'],
        ['b/c', 'file'],
        ['d', 'dir'],
        ['b', 'dir'],
      ],
    );
    assert.deepEqual((await fs.readdir(target)).sort(), ['a', 'b', 'd']);
  });

  it('the error names the archive path when no label is given', async () => {
    const { target } = await prepareCase(casesDir, 'unlabelled');
    const file = join(archives, 'dotdot.tar.gz');
    await assert.rejects(extractArchive(file, target), (e: unknown) => {
      assert.ok(isAppError(e));
      assert.ok(e.message.startsWith(`${file}: entry "../escape"`), e.message);
      assert.deepEqual(e.details, { archive: file, entry: '../escape' });
      return true;
    });
  });
});
