import { AppError } from '../core/index.js';

/** The static layout of a cache: any web server can serve it as plain files. */
export const INDEX_FILE = 'index.json';
export const PKG_DIR = 'pkg';

export interface Envelope {
  readonly signatures: readonly string[];
  readonly signed: unknown;
}

export function readEnvelope(bytes: Uint8Array, url: string): Envelope {
  let x: Partial<Envelope>;
  try {
    x = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Envelope>;
  } catch {
    x = {};
  }
  if (!Array.isArray(x.signatures) || typeof x.signed !== 'object' || x.signed === null)
    throw new AppError('E_PKG_FORMAT', `${url} is not a signed ferry cache index`, {
      hint: 'publish the cache with `ferry cache push`',
    });
  return { signatures: x.signatures.map(String), signed: x.signed };
}
