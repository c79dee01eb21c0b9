import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../core/index.js';
import {
  formatKey,
  generateKey,
  parsePublicKey,
  parseSecretKey,
  publicOf,
  signBytes,
  verifyBytes,
} from './keys.js';

const data = Buffer.from('manifest bytes');

test('a signature made with a key verifies with its public half, by name', () => {
  const k = generateKey('build1');
  const sig = signBytes(k.secret, data);
  assert.match(sig, /^build1:[A-Za-z0-9+/]+=*$/);
  assert.equal(verifyBytes([k.public], data, sig, 'x'), 'build1');
  assert.deepEqual(publicOf(k.secret), k.public);
});

test('keys round-trip through their one-line form', () => {
  const k = generateKey('ci.example');
  assert.deepEqual(parsePublicKey(formatKey(k.public), 'x'), k.public);
  assert.deepEqual(parseSecretKey(`${formatKey(k.secret)}\n`, 'x'), k.secret);
});

const refusals: { name: string; run: () => unknown; code: string; message: RegExp }[] = [
  {
    name: 'no signature',
    run: () => verifyBytes([generateKey('a').public], data, undefined, 'pkg.json'),
    code: 'E_SIG_MISSING',
    message: /pkg\.json is not signed/,
  },
  {
    name: 'a signer nobody trusts',
    run: () =>
      verifyBytes([generateKey('a').public], data, signBytes(generateKey('b').secret, data), 'pkg.json'),
    code: 'E_SIG_UNTRUSTED',
    message: /signed by "b", a key this root does not trust/,
  },
  {
    name: 'altered bytes',
    run: () => {
      const k = generateKey('a');
      return verifyBytes([k.public], Buffer.from('manifest bytes!'), signBytes(k.secret, data), 'pkg.json');
    },
    code: 'E_SIG_INVALID',
    message: /does not match its contents/,
  },
  {
    name: 'another key under a trusted name',
    run: () =>
      verifyBytes([generateKey('a').public], data, signBytes(generateKey('a').secret, data), 'pkg.json'),
    code: 'E_SIG_INVALID',
    message: /signature by "a"/,
  },
  {
    name: 'a truncated key',
    run: () => parsePublicKey('a:AAAA', 'config.toml'),
    code: 'E_KEY_FORMAT',
    message: /config\.toml: not an ed25519 public key/,
  },
  {
    name: 'a bad key name',
    run: () => generateKey('../x'),
    code: 'E_KEY_FORMAT',
    message: /not a usable key name/,
  },
];

for (const r of refusals)
  test(`refused: ${r.name}`, () => {
    assert.throws(r.run, (e: unknown) => isAppError(e) && e.code === r.code && r.message.test(e.message));
  });
