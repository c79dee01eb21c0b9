/**
 * The tar format at the level of bytes and names, without I/O: ustar headers (with GNU base-256 numbers and
 * the GNU 'L'/'K' long names on the reading side), pax extended records, entry-name normalisation and the
 * symlink-escape check. archive.ts does the effects; everything that decides whether a header or a name is
 * acceptable lives here so it can be tested with tables.
 */

export const BLOCK = 512;

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

/** A typeflag: '0' file ('\0' reads as '0'), '2' symlink, '5' directory; others are metadata or refused. */
export type TypeFlag = string;

export interface TarHeader {
  /** The full name: ustar prefix + '/' + name when the prefix field is used. */
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data that follow the header (rounded up to whole blocks). */
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly type: TypeFlag;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
}

export type DecodedBlock =
  | { readonly kind: 'header'; readonly header: TarHeader }
  | { readonly kind: 'zero' }
  | { readonly kind: 'bad'; readonly reason: string };

interface Field {
  readonly at: number;
  readonly len: number;
}

const F = {
  name: { at: 0, len: 100 },
  mode: { at: 100, len: 8 },
  uid: { at: 108, len: 8 },
  gid: { at: 116, len: 8 },
  size: { at: 124, len: 12 },
  mtime: { at: 136, len: 12 },
  chksum: { at: 148, len: 8 },
  type: { at: 156, len: 1 },
  linkname: { at: 157, len: 100 },
  magic: { at: 257, len: 6 },
  version: { at: 263, len: 2 },
  uname: { at: 265, len: 32 },
  gname: { at: 297, len: 32 },
  devmajor: { at: 329, len: 8 },
  devminor: { at: 337, len: 8 },
  prefix: { at: 345, len: 155 },
} as const satisfies Record<string, Field>;

const USTAR_MAGIC = 'ustar\0';
/** Old GNU tar: magic "ustar " and version " \0"; its prefix field holds other data (atime, ctime). */
const GNU_MAGIC = 'ustar ';

/** Zero bytes needed after `size` bytes of data to fill the last block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

const ZEROS = Buffer.alloc(8 * BLOCK);

export function isZero(buf: Uint8Array): boolean {
  for (let off = 0; off < buf.length; off += ZEROS.length) {
    const piece = buf.subarray(off, off + ZEROS.length);
    if (Buffer.compare(piece, ZEROS.subarray(0, piece.length)) !== 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Numbers

/**
 * Read a numeric field: octal text (leading spaces, ended by NUL or space, or filling the field), or GNU
 * base-256 (first byte 0x80 positive, 0xff negative, then big-endian bytes). Undefined when malformed or
 * beyond 2^53.
 */
export function decodeNumber(field: Uint8Array): number | undefined {
  return numberAt(field, 0, field.length);
}

/** decodeNumber of the `len` bytes at `at`, read in place (a header has eight numbers; views cost). */
function numberAt(bytes: Uint8Array, at: number, len: number): number | undefined {
  if ((bytes[at] ?? 0) & 0x80) return decodeBase256(bytes.subarray(at, at + len));
  const end = at + len;
  let i = at;
  while (i < end && bytes[i] === 0x20) i++;
  let n = 0;
  for (; i < end; i++) {
    const b = bytes[i] ?? 0;
    if (b === 0 || b === 0x20) break;
    if (b < 0x30 || b > 0x37) return undefined;
    n = n * 8 + (b - 0x30);
  }
  // Past 2^53 the sum is inexact but stays past it, so this check still refuses it.
  return Number.isSafeInteger(n) ? n : undefined;
}

function decodeBase256(field: Uint8Array): number | undefined {
  const first = field[0];
  if (first !== 0x80 && first !== 0xff) return undefined;
  let n = 0n;
  for (const b of field.subarray(1)) n = n * 256n + BigInt(b);
  if (first === 0xff) n -= 256n ** BigInt(field.length - 1);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return n <= max && n >= -max ? Number(n) : undefined;
}

/** Octal with a NUL terminator when it fits in `len - 1` digits, else GNU base-256 (every tar reads it). */
export function encodeNumber(n: number, len: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`Assertion failed: tar number ${n} is not a size`);
  const out = Buffer.alloc(len);
  if (n < 8 ** (len - 1)) {
    out.write(n.toString(8).padStart(len - 1, '0'), 'latin1');
    return out;
  }
  out[0] = 0x80;
  for (let i = len - 1, v = n; i > 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Headers

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A NUL-terminated text field as UTF-8; undefined when the bytes are not UTF-8. */
function text(block: Uint8Array, f: Field): string | undefined {
  let end = f.at;
  let ascii = true;
  for (const stop = f.at + f.len; end < stop; end++) {
    const b = block[end] ?? 0;
    if (b === 0) break;
    if (b >= 0x80) ascii = false;
  }
  // Names are nearly always ASCII, which reads the same as Latin-1, and that is much cheaper to decode.
  if (ascii) return bufferView(block).toString('latin1', f.at, end);
  try {
    return utf8.decode(block.subarray(f.at, end));
  } catch {
    return undefined;
  }
}

/** The same bytes as a Buffer (no copy), for its Latin-1 decoding. */
function bufferView(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The header checksum: the byte sum with the checksum field read as spaces. Old tars summed signed bytes. */
export function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let sum = 0;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = block[i] ?? 0;
    sum += b;
    if (b > 127) high++;
  }
  for (let i = F.chksum.at; i < F.chksum.at + F.chksum.len; i++) {
    const b = block[i] ?? 0;
    sum += 0x20 - b;
    if (b > 127) high--;
  }
  // A signed byte b > 127 counts as b - 256.
  return { unsigned: sum, signed: sum - 256 * high };
}

/** Decode one 512-byte block; the checksum and magic are verified, numbers and names must parse. */
export function decodeHeader(block: Uint8Array): DecodedBlock {
  if (block.length !== BLOCK) return { kind: 'bad', reason: `header is ${block.length} bytes, not ${BLOCK}` };
  if (isZero(block)) return { kind: 'zero' };
  const stored = numberAt(block, F.chksum.at, F.chksum.len);
  const sums = checksums(block);
  if (stored === undefined) return { kind: 'bad', reason: 'header checksum field is not a number' };
  if (stored !== sums.unsigned && stored !== sums.signed)
    return {
      kind: 'bad',
      reason: `header checksum is ${stored}, the header sums to ${sums.unsigned}`,
    };
  const magic = bufferView(block).toString('latin1', F.magic.at, F.magic.at + F.magic.len);
  if (magic !== USTAR_MAGIC && magic !== GNU_MAGIC)
    return { kind: 'bad', reason: 'header is not a ustar header (no "ustar" magic)' };
  return decodeFields(block, magic === USTAR_MAGIC);
}

function decodeFields(block: Uint8Array, posix: boolean): DecodedBlock {
  const num = (f: Field) => numberAt(block, f.at, f.len);
  const [mode, uid, gid, size, mtime] = [num(F.mode), num(F.uid), num(F.gid), num(F.size), num(F.mtime)];
  const bad = (k: string): DecodedBlock => ({
    kind: 'bad',
    reason: `header field ${k} is not a valid number`,
  });
  if (mode === undefined || mode < 0) return bad('mode');
  if (uid === undefined || uid < 0) return bad('uid');
  if (gid === undefined || gid < 0) return bad('gid');
  if (size === undefined || size < 0) return bad('size');
  if (mtime === undefined) return bad('mtime');
  const name = text(block, F.name);
  const prefix = posix ? text(block, F.prefix) : '';
  const linkname = text(block, F.linkname);
  if (name === undefined || prefix === undefined || linkname === undefined)
    return { kind: 'bad', reason: 'header name or link name is not UTF-8' };
  const typeByte = block[F.type.at] ?? 0;
  const header: TarHeader = {
    name: prefix === '' ? name : `${prefix}/${name}`,
    mode,
    uid,
    gid,
    size,
    mtime,
    type: typeByte === 0 ? '0' : String.fromCharCode(typeByte),
    linkname,
    uname: text(block, F.uname) ?? '',
    gname: text(block, F.gname) ?? '',
  };
  return { kind: 'header', header };
}

/** What the writer puts in a header; names must fit (encodeEntry moves long ones to a pax record). */
export interface HeaderFields {
  readonly name: string;
  readonly prefix?: string;
  readonly mode: number;
  readonly size: number;
  readonly mtime: number;
  readonly type: TypeFlag;
  readonly linkname?: string;
}

/** A POSIX ustar header: uid/gid 0, empty uname/gname, so the bytes depend only on the fields given. */
export function encodeHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  putText(block, F.name, h.name);
  putText(block, F.prefix, h.prefix ?? '');
  putText(block, F.linkname, h.linkname ?? '');
  encodeNumber(h.mode, F.mode.len).copy(block, F.mode.at);
  encodeNumber(0, F.uid.len).copy(block, F.uid.at);
  encodeNumber(0, F.gid.len).copy(block, F.gid.at);
  encodeNumber(h.size, F.size.len).copy(block, F.size.at);
  encodeNumber(h.mtime, F.mtime.len).copy(block, F.mtime.at);
  encodeNumber(0, F.devmajor.len).copy(block, F.devmajor.at);
  encodeNumber(0, F.devminor.len).copy(block, F.devminor.at);
  block.write(h.type, F.type.at, 1, 'latin1');
  block.write(USTAR_MAGIC, F.magic.at, 'latin1');
  block.write('00', F.version.at, 'latin1');
  const sum = checksums(block).unsigned;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, F.chksum.at, 'latin1');
  return block;
}

function putText(block: Buffer, f: Field, s: string): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > f.len)
    throw new Error(`Assertion failed: "${s}" does not fit a ${f.len}-byte tar field`);
  bytes.copy(block, f.at);
}

// ---------------------------------------------------------------------------------------------------------
// Pax records and whole entries

/** One pax record: "<len> <key>=<value>\n", where <len> counts the whole record including its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`);
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return Buffer.from(`${len} ${key}=${value}\n`, 'utf8');
}

export function encodePax(records: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
}

export type PaxResult =
  | { readonly kind: 'ok'; readonly records: ReadonlyMap<string, string> }
  | { readonly kind: 'bad'; readonly reason: string };

/** Parse a pax extended header body. A record whose length does not match its text is corrupt. */
export function parsePax(body: Uint8Array): PaxResult {
  const records = new Map<string, string>();
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  while (pos < buf.length && buf[pos] !== 0) {
    const space = buf.indexOf(0x20, pos);
    const digits = space < 0 ? '' : buf.toString('latin1', pos, space);
    const len = /^[1-9][0-9]{0,8}$/.test(digits) ? Number(digits) : NaN;
    const end = pos + len;
    if (Number.isNaN(len) || end > buf.length || buf[end - 1] !== 0x0a)
      return { kind: 'bad', reason: `pax record at byte ${pos} has a wrong length` };
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) return { kind: 'bad', reason: `pax record at byte ${pos} has no "="` };
    try {
      records.set(utf8.decode(buf.subarray(space + 1, eq)), utf8.decode(buf.subarray(eq + 1, end - 1)));
    } catch {
      return { kind: 'bad', reason: `pax record at byte ${pos} is not UTF-8` };
    }
    pos = end;
  }
  return { kind: 'ok', records };
}

/** What the writer archives: one file, directory or symlink, with the data size for files. */
export interface TarEntry {
  /** Archive path; directories end in '/'. */
  readonly path: string;
  readonly type: '0' | '2' | '5';
  readonly mode: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkname?: string;
}

const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** Split a long name at a '/' into ustar prefix (≤ 155 bytes) and name (≤ 100 bytes), when possible. */
export function splitUstarName(path: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length <= F.name.len) return { prefix: '', name: path };
  for (let i = bytes.indexOf(0x2f, 1); i >= 0 && i <= F.prefix.len; i = bytes.indexOf(0x2f, i + 1)) {
    const nameLen = bytes.length - i - 1;
    if (nameLen > 0 && nameLen <= F.name.len)
      return { prefix: bytes.toString('utf8', 0, i), name: bytes.toString('utf8', i + 1) };
  }
  return undefined;
}

/** The header block(s) of an entry: a pax 'x' header first when the path, link or size does not fit ustar. */
export function encodeEntry(e: TarEntry): Buffer {
  const split = splitUstarName(e.path);
  const link = e.linkname ?? '';
  const pax: [string, string][] = [];
  if (split === undefined) pax.push(['path', e.path]);
  if (Buffer.byteLength(link) > F.linkname.len) pax.push(['linkpath', link]);
  if (e.size > MAX_OCTAL_SIZE) pax.push(['size', String(e.size)]);
  const header = encodeHeader({
    name: split?.name ?? truncateUtf8(e.path, F.name.len),
    prefix: split?.prefix ?? '',
    mode: e.mode,
    size: e.size,
    mtime: e.mtime,
    type: e.type,
    linkname: truncateUtf8(link, F.linkname.len),
  });
  if (pax.length === 0) return header;
  const body = encodePax(pax);
  const paxHeader = encodeHeader({
    name: '././@PaxHeader',
    mode: 0o644,
    size: body.length,
    mtime: e.mtime,
    type: 'x',
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), header]);
}

/** At most `max` bytes of `s`, cut at a character boundary (the pax record carries the full text). */
function truncateUtf8(s: string, max: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= max) return s;
  let cut = max;
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut);
}

// ---------------------------------------------------------------------------------------------------------
// Names

export type Checked =
  { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/** A component that is empty, '.' or '..': at the start, between slashes, or at the end. */
const ODD_COMPONENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/**
 * An entry name as a relative path with '/' separators and no '.', '..' or empty components:
 * "./a//b/" → "a/b"; the archive root ("./") becomes "". Absolute names, '..' anywhere and NUL bytes are
 * refused rather than repaired: an archive that contains them was not made by a well-behaved packer.
 */
export function normalizeEntryPath(name: string): Checked {
  // Most names are normal already (a directory's trailing slash is not): one test instead of a split.
  if (!ODD_COMPONENT.test(name) && !name.includes('\0')) return { ok: true, path: name };
  if (name.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'is an absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { ok: false, reason: 'climbs out of the target with ".."' };
  if (parts.length === 0 && name === '') return { ok: false, reason: 'has an empty name' };
  return { ok: true, path: parts.join('/') };
}

/** Symlink hops allowed while resolving one link, as Linux's MAXSYMLINKS. */
const MAX_HOPS = 40;

/**
 * Why the symlink at `linkPath` (normalised, relative to the target) pointing at `target` would lead outside
 * the target, or undefined when it stays inside. `links` are the symlinks in the tree (path → target); a
 * component that is one of them is replaced by its target, so `a -> sub/up/..` with `sub/up -> ..` is seen to
 * escape though it looks harmless as text. Components that are not links are taken as plain directories.
 */
export function symlinkEscape(
  linkPath: string,
  target: string,
  links: ReadonlyMap<string, string>,
): string | undefined {
  if (target === '') return 'has an empty target';
  if (target.includes('\0')) return 'has a target with a NUL byte';
  if (target.startsWith('/')) return `points to the absolute path ${JSON.stringify(target)}`;
  const stack = linkPath.split('/').slice(0, -1);
  let queue = target.split('/');
  let hops = 0;
  for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (stack.pop() === undefined) return `points outside the target (${JSON.stringify(target)})`;
      continue;
    }
    stack.push(c);
    const next = links.get(stack.join('/'));
    if (next === undefined) continue;
    if (++hops > MAX_HOPS) return 'is part of a symbolic link loop';
    if (next.startsWith('/')) return `leads through a link to the absolute path ${JSON.stringify(next)}`;
    stack.pop();
    queue = [...next.split('/'), ...queue];
  }
  return undefined;
}

export type KindOf =
  | { readonly ok: true; readonly kind: 'file' | 'dir' | 'symlink' }
  | { readonly ok: false; readonly reason: string };

const REFUSED_TYPES: Readonly<Record<string, string>> = {
  '1': 'is a hard link; ferry archives never contain hard links, so they are refused',
  '3': 'is a character device',
  '4': 'is a block device',
  '6': 'is a FIFO',
  '7': 'is a contiguous file (an obsolete kind no packer of ours writes)',
  S: 'is a GNU sparse file',
};

/** The kind of an entry's typeflag, or why it is refused. Metadata ('x', 'g', 'L', 'K') is not an entry. */
export function entryKind(type: TypeFlag): KindOf {
  if (type === '0') return { ok: true, kind: 'file' };
  if (type === '5') return { ok: true, kind: 'dir' };
  if (type === '2') return { ok: true, kind: 'symlink' };
  return { ok: false, reason: REFUSED_TYPES[type] ?? `has the unsupported type ${JSON.stringify(type)}` };
}
