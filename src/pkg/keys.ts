import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { AppError } from '../core/index.js';

/**
 * Ed25519 keys as one-line strings, `NAME:BASE64` (the raw 32-byte key), as Nix writes them: easy to paste into
 * a config file or a chat, and the name says whose key it is. A signature is `NAME:BASE64` of the 64-byte
 * signature; the name picks the trusted key to check it with.
 */
export interface PublicKey {
  readonly name: string;
  readonly raw: Buffer;
}

export interface SecretKey {
  readonly name: string;
  /** The 32-byte seed. */
  readonly raw: Buffer;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// DER prefixes that wrap a raw ed25519 key as PKCS#8 / SPKI, so Node's crypto can load it.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function checkKeyName(name: string): string {
  if (!NAME_RE.test(name))
    throw new AppError('E_KEY_FORMAT', `"${name}" is not a usable key name`, {
      hint: 'key names are letters, digits, ".", "_" and "-" (e.g. the host name: build1)',
    });
  return name;
}

export function generateKey(name: string): { secret: SecretKey; public: PublicKey } {
  checkKeyName(name);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { secret: { name, raw: Buffer.from(seed) }, public: { name, raw: Buffer.from(pub) } };
}

export function publicOf(secret: SecretKey): PublicKey {
  const pub = createPublicKey(secretKeyObject(secret)).export({ format: 'der', type: 'spki' });
  return { name: secret.name, raw: Buffer.from(pub.subarray(SPKI_PREFIX.length)) };
}

export function formatKey(key: PublicKey | SecretKey): string {
  return `${key.name}:${key.raw.toString('base64')}`;
}

/** Parses `NAME:BASE64`; `what` names the source in errors (a file, "the command line"). */
export function parsePublicKey(text: string, what: string): PublicKey {
  return parseNamed(text, what, 32, 'public key');
}

export function parseSecretKey(text: string, what: string): SecretKey {
  return parseNamed(text, what, 32, 'secret key');
}

function parseNamed(text: string, what: string, size: number, kind: string): { name: string; raw: Buffer } {
  const line = text.trim();
  const colon = line.indexOf(':');
  const name = line.slice(0, colon);
  const raw = Buffer.from(line.slice(colon + 1), 'base64');
  if (
    colon <= 0 ||
    !NAME_RE.test(name) ||
    raw.length !== size ||
    raw.toString('base64') !== line.slice(colon + 1)
  )
    throw new AppError(
      'E_KEY_FORMAT',
      `${what}: not an ed25519 ${kind} (expected NAME:BASE64 of ${size} bytes)`,
      {
        hint: 'copy the whole line of a .public file made by `ferry keys generate NAME`',
      },
    );
  return { name, raw };
}

/** Sign `data`; the result is the detached signature line `NAME:BASE64`. */
export function signBytes(secret: SecretKey, data: Uint8Array): string {
  return `${secret.name}:${sign(null, data, secretKeyObject(secret)).toString('base64')}`;
}

/**
 * Check a detached signature line against the trusted keys. Throws E_SIG_MISSING, E_SIG_UNTRUSTED (no trusted
 * key has the signer's name) or E_SIG_INVALID; returns the signer's name.
 */
export function verifyBytes(
  trusted: readonly PublicKey[],
  data: Uint8Array,
  signature: string | undefined,
  what: string,
): string {
  const line = signature?.trim() ?? '';
  if (line === '')
    throw new AppError('E_SIG_MISSING', `${what} is not signed`, {
      hint: 'sign it with `ferry pack --key NAME` / `ferry cache push`, or pass --allow-untrusted to use it anyway',
    });
  const colon = line.indexOf(':');
  const name = line.slice(0, colon);
  const sig = Buffer.from(line.slice(colon + 1), 'base64');
  const keys = trusted.filter((k) => k.name === name);
  if (colon <= 0 || keys.length === 0)
    throw new AppError('E_SIG_UNTRUSTED', `${what} is signed by "${name}", a key this root does not trust`, {
      hint: `if you trust it: ferry keys trust ${name}:<the line of its .public file>; or pass --allow-untrusted`,
    });
  if (sig.length === 64 && keys.some((k) => verify(null, data, publicKeyObject(k), sig))) return name;
  throw new AppError('E_SIG_INVALID', `${what}: the signature by "${name}" does not match its contents`, {
    hint: 'the file was changed after it was signed; do not use it, download or build it again',
  });
}

function secretKeyObject(k: SecretKey): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, k.raw]), format: 'der', type: 'pkcs8' });
}

/** Made once per key: an install checks a signature per package, all against the same few keys. */
const keyObjects = new WeakMap<PublicKey, KeyObject>();

function publicKeyObject(k: PublicKey): KeyObject {
  let o = keyObjects.get(k);
  if (o === undefined) {
    o = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, k.raw]), format: 'der', type: 'spki' });
    keyObjects.set(k, o);
  }
  return o;
}
