import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, isErrno } from '../core/index.js';

/** A clearsigned message whose signature gpgv accepted, and what exactly it covered. */
export interface VerifiedMessage {
  /** The signing key's (or subkey's) fingerprint, from gpgv's VALIDSIG status. */
  readonly fingerprint: string;
  /** The signed text as gpgv gives it: dash-escapes removed, trailing blanks of each line dropped. */
  readonly plaintext: string;
}

const ARMOR_BEGIN = /^-----BEGIN PGP PUBLIC KEY BLOCK-----\s*$/;

/**
 * OpenPGP public keys in binary form: gpgv reads only binary keyrings, and people are handed `.asc` files. An
 * armored block is its base64 body after the header lines, up to the `=CRC` line; binary input is kept.
 */
export function dearmorKeys(data: Buffer, file: string): Buffer {
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) return checkKeyPacket(data, file);
  const out: Buffer[] = [];
  let state: 'outside' | 'headers' | 'body' = 'outside';
  let body = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (state === 'outside') {
      if (ARMOR_BEGIN.test(line)) state = 'headers';
    } else if (state === 'headers') {
      if (line === '') state = 'body';
    } else if (line.startsWith('=') || line.startsWith('-----END PGP PUBLIC KEY BLOCK-----')) {
      // The optional `=CRC` line ends the body; the END line closes the block.
      out.push(Buffer.from(body, 'base64'));
      body = '';
      state = 'outside';
    } else body += line;
  }
  return checkKeyPacket(Buffer.concat(out), file);
}

/** Keys must start with a public-key packet (tag 6, old or new packet format), or gpgv's error is obscure. */
function checkKeyPacket(key: Buffer, file: string): Buffer {
  const b = key[0] ?? 0;
  const tag = b & 0x40 ? b & 0x3f : (b >> 2) & 0x0f;
  if ((b & 0x80) === 0 || tag !== 6)
    throw new AppError('E_ADVISORY_SIGNATURE', `${file} holds no readable OpenPGP public key`, {
      hint: 'give the signer\'s public key as exported by "gpg --export" or "gpg --armor --export"',
      details: { file },
    });
  return key;
}

/**
 * Verifies a clearsigned message with gpgv against exactly the keys in `keyFiles` (a keyring of its own in a
 * temporary home, so the user's keyrings and trust settings play no part), and returns the text that was signed.
 * A bad signature, an unknown key or a missing gpgv is E_ADVISORY_SIGNATURE naming `file`.
 */
export function verifyClearsigned(data: Buffer, keyFiles: readonly string[], file: string): VerifiedMessage {
  const home = mkdtempSync(join(tmpdir(), 'ferry-gpgv-'));
  try {
    const keyring = join(home, 'keys.gpg');
    writeFileSync(keyring, Buffer.concat(keyFiles.map((k) => dearmorKeys(readKeyFile(k), k))));
    const r = spawnSync(
      'gpgv',
      ['--homedir', home, '--keyring', keyring, '--status-fd', '2', '--output', '-', '-'],
      { input: data, maxBuffer: data.length * 2 + (1 << 20), env: { ...process.env, LC_ALL: 'C' } },
    );
    if (r.error !== undefined) {
      throw new AppError('E_ADVISORY_SIGNATURE', `cannot run gpgv to check ${file}: ${r.error.message}`, {
        hint: 'install gpgv (Debian: apt-get install gpgv), or drop the advisory keys to skip the check',
        details: { file },
        cause: r.error,
      });
    }
    const status = r.stderr.toString('utf8');
    const valid = /^\[GNUPG:\] VALIDSIG (\S+)/m.exec(status);
    if (r.status !== 0 || valid === null) throw signatureError(file, status, keyFiles);
    return { fingerprint: valid[1] ?? '', plaintext: r.stdout.toString('latin1') };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function readKeyFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
    throw new AppError('E_ADVISORY_SIGNATURE', `advisory key ${path} does not exist`, {
      hint: "give the path of the signer's public key (--advisories-key FILE, or [audit] keys in ferry.toml)",
      details: { file: path },
    });
  }
}

/** gpgv's status lines turned into the reason a user can act on. */
function signatureError(file: string, status: string, keyFiles: readonly string[]): AppError {
  const keyId = /^\[GNUPG:\] (?:NO_PUBKEY|ERRSIG) (\S+)/m.exec(status)?.[1];
  const why = /^\[GNUPG:\] BADSIG /m.test(status)
    ? 'its PGP signature does not match its content: the file was altered after it was signed'
    : keyId !== undefined
      ? `it is signed by key ${keyId}, which is not among the given keys (${keyFiles.join(', ')})`
      : /^\[GNUPG:\] (?:EXPKEYSIG|REVKEYSIG)/m.test(status)
        ? 'it is signed by an expired or revoked key'
        : 'its PGP signature could not be verified';
  return new AppError('E_ADVISORY_SIGNATURE', `${file}: ${why}`, {
    hint: "fetch the file again from its publisher (ferry audit fetch), and check that the key given is the publisher's",
    details: { file, keys: [...keyFiles], gpgv: status.split('\n').filter((l) => l.startsWith('[GNUPG:]')) },
  });
}
