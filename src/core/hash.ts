import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A lowercase hex sha256 digest. */
export type Sha256 = string & { readonly __brand: 'Sha256' };

const SHA256_RE = /^[0-9a-f]{64}$/;

export function tryParseSha256(s: string): Sha256 | undefined {
  return SHA256_RE.test(s) ? (s as Sha256) : undefined;
}

export function sha256Bytes(data: string | Uint8Array): Sha256 {
  return createHash('sha256').update(data).digest('hex') as Sha256;
}

export async function sha256File(path: string): Promise<Sha256> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex') as Sha256;
}

// Nix's alphabet: no e, o, u, t, so hashes never spell words.
const BASE32 = '0123456789abcdfghijklmnpqrsvwxyz';

/** 160 bits of a sha256 over `data`, in base32: the hash part of a store path name. */
export function storeHash(data: string): string {
  const bytes = createHash('sha256').update(data).digest().subarray(0, 20);
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  return out;
}

/** JSON with object keys sorted, so equal data always hashes equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  });
}
