import { inflateRawSync } from 'node:zlib';
import { AppError, messageOf } from '../core/index.js';

export interface ZipEntry {
  readonly name: string;
  readonly data: Buffer;
}

export interface ZipLimits {
  readonly maxEntries: number;
  readonly maxEntryBytes: number;
  readonly maxTotalBytes: number;
}

const DEFAULT_LIMITS: ZipLimits = {
  maxEntries: 500_000,
  maxEntryBytes: 64 << 20,
  maxTotalBytes: 4 * 2 ** 30,
};

export function isZip(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x50 && data[1] === 0x4b && data[2] === 0x03 && data[3] === 0x04;
}

/**
 * The files of a zip archive (stored or deflated; no ZIP64, no encryption) whose names `want` accepts, read
 * through the central directory. Sizes are checked against `limits` before inflating and again after, so a
 * crafted archive cannot make ferry allocate more than the limits.
 */
export function readZip(
  data: Buffer,
  source: string,
  want: (name: string) => boolean,
  limits: ZipLimits = DEFAULT_LIMITS,
): ZipEntry[] {
  const bad = (why: string): never => {
    throw new AppError('E_ADVISORY_FORMAT', `${source}: not a readable zip archive: ${why}`, {
      hint: 'download the advisory archive again',
      details: { file: source },
    });
  };
  let eocd = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 65535); i--)
    if (data.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) bad('no end-of-central-directory record');
  const count = data.readUInt16LE(eocd + 10);
  const cdOffset = data.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) bad('ZIP64 archives are not supported');
  if (count > limits.maxEntries) bad(`${count} entries exceed the limit of ${limits.maxEntries}`);
  const out: ZipEntry[] = [];
  let total = 0;
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > data.length || data.readUInt32LE(p) !== 0x02014b50) bad('central directory is truncated');
    const flags = data.readUInt16LE(p + 8);
    const method = data.readUInt16LE(p + 10);
    const csize = data.readUInt32LE(p + 20);
    const usize = data.readUInt32LE(p + 24);
    const nameLen = data.readUInt16LE(p + 28);
    const extraLen = data.readUInt16LE(p + 30);
    const commentLen = data.readUInt16LE(p + 32);
    const local = data.readUInt32LE(p + 42);
    const name = data.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/') || !want(name)) continue;
    if ((flags & 1) !== 0) bad(`${name} is encrypted`);
    if (usize > limits.maxEntryBytes)
      bad(`${name} is ${usize} bytes, over the limit of ${limits.maxEntryBytes}`);
    total += usize;
    if (total > limits.maxTotalBytes) bad(`contents exceed the limit of ${limits.maxTotalBytes} bytes`);
    if (local + 30 > data.length || data.readUInt32LE(local) !== 0x04034b50) bad(`${name}: bad local header`);
    const start = local + 30 + data.readUInt16LE(local + 26) + data.readUInt16LE(local + 28);
    if (start + csize > data.length) bad(`${name} is truncated`);
    const raw = data.subarray(start, start + csize);
    let content: Buffer;
    if (method === 0) content = raw;
    else if (method === 8) {
      try {
        content = inflateRawSync(raw, { maxOutputLength: Math.max(1, usize) });
      } catch (e) {
        return bad(`${name}: ${messageOf(e)}`);
      }
    } else return bad(`${name} uses compression method ${method} (only stored and deflate are read)`);
    if (content.length !== usize)
      bad(`${name} inflates to ${content.length} bytes, not the ${usize} recorded`);
    out.push({ name, data: content });
  }
  return out;
}
