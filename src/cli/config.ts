import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, isErrno } from '../core/index.js';
import {
  formatKey,
  generateKey,
  parsePublicKey,
  parseSecretKey,
  type PublicKey,
  type SecretKey,
} from '../pkg/index.js';
import { readTextIfExists, writeFileAtomic } from '../platform/index.js';
import { locateField, parseTomlText } from '../recipe/index.js';
import type { App } from './app.js';
import { listOption } from './args.js';

/**
 * `<root>/etc/config.toml`: substituters and trusted keys that hold for every command on this root.
 * Trusted keys are also files in `<root>/etc/trusted-keys/` (what `ferry keys trust` writes), like apt's
 * trusted.gpg.d: adding or removing trust is adding or removing a file, never editing someone's config.
 */
export interface Config {
  readonly file: string;
  readonly substituters: readonly string[];
  readonly trustedKeys: readonly PublicKey[];
  /** `http-timeout`: seconds a cache server may send nothing before the request is retried. */
  readonly httpTimeoutMs: number | undefined;
}

const FIELDS = ['substituters', 'trusted-keys', 'http-timeout'];

export async function readConfig(rootDir: string): Promise<Config> {
  const file = join(rootDir, 'etc', 'config.toml');
  const text = (await readTextIfExists(file)) ?? '';
  const doc = parseTomlText(text, file, 'E_CONFIG_FIELD');
  const fail = (field: string, why: string): never => {
    const pos = locateField(text, [field]);
    throw new AppError('E_CONFIG_FIELD', `${file}:${pos.line}:${pos.column}: field ${field}: ${why}`, {
      hint: 'substituters = ["http://host:8080", "file:///srv/cache"]; trusted-keys = ["NAME:BASE64"]; http-timeout = 30',
    });
  };
  for (const k of Object.keys(doc))
    if (!FIELDS.includes(k)) fail(k, `unknown field; config.toml has ${FIELDS.join(', ')}`);
  const list = (k: string): string[] => {
    const v = doc[k] ?? [];
    return Array.isArray(v) && v.every((x) => typeof x === 'string')
      ? v
      : fail(k, 'expected a list of strings');
  };
  const keys = list('trusted-keys').map((k, i) => parsePublicKey(k, `${file}: trusted-keys[${i}]`));
  const timeout = doc['http-timeout'];
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1))
    fail('http-timeout', 'expected a whole number of seconds, at least 1');
  return {
    file,
    substituters: list('substituters'),
    trustedKeys: [...keys, ...(await trustedKeyFiles(rootDir))],
    httpTimeoutMs: typeof timeout === 'number' ? timeout * 1000 : undefined,
  };
}

async function trustedKeyFiles(rootDir: string): Promise<PublicKey[]> {
  const dir = join(rootDir, 'etc', 'trusted-keys');
  let names: string[] = [];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  const out: PublicKey[] = [];
  for (const n of names.filter((x) => x.endsWith('.public')).sort())
    out.push(parsePublicKey(await fs.readFile(join(dir, n), 'utf8'), join(dir, n)));
  return out;
}

/** Substituters for this command: --substituter, then FERRY_SUBSTITUTERS, then config.toml; none with --no-substitute. */
export async function substitutersFor(app: App, config: Config): Promise<string[]> {
  if (app.options['no-substitute'] === true) return [];
  const fromEnv = (app.ctx.env.FERRY_SUBSTITUTERS ?? '').split(/\s+/).filter((s) => s !== '');
  return Promise.resolve([
    ...new Set([...listOption(app.options, 'substituter'), ...fromEnv, ...config.substituters]),
  ]);
}

export function keysDir(rootDir: string): string {
  return join(rootDir, 'etc', 'keys');
}

/** Make a signing key pair and trust its public half on this root (what this root signs, it installs). */
export async function createKey(rootDir: string, name: string): Promise<PublicKey> {
  const { secret, public: pub } = generateKey(name);
  const dir = keysDir(rootDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const secretFile = join(dir, `${name}.secret`);
  try {
    await fs.writeFile(secretFile, `${formatKey(secret)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
    throw new AppError('E_KEY_EXISTS', `a key named "${name}" exists already (${secretFile})`, {
      hint: 'pick another name, or delete that file yourself if you mean to replace the key',
    });
  }
  await writeFileAtomic(join(dir, `${name}.public`), `${formatKey(pub)}\n`);
  await trustKey(rootDir, pub);
  return pub;
}

export async function trustKey(rootDir: string, key: PublicKey): Promise<string> {
  const file = join(rootDir, 'etc', 'trusted-keys', `${key.name}.public`);
  await fs.mkdir(join(rootDir, 'etc', 'trusted-keys'), { recursive: true });
  await writeFileAtomic(file, `${formatKey(key)}\n`);
  return file;
}

/** The key to sign with: --key NAME, or the only one this root has. */
export async function signingKey(rootDir: string, name: string | undefined): Promise<SecretKey> {
  const dir = keysDir(rootDir);
  const names = (await fs.readdir(dir).catch(() => [] as string[]))
    .filter((n) => n.endsWith('.secret'))
    .map((n) => n.slice(0, -'.secret'.length));
  const pick = name ?? (names.length === 1 ? names[0] : undefined);
  if (pick === undefined || !names.includes(pick))
    throw new AppError(
      'E_SIG_MISSING',
      names.length === 0
        ? `this root has no signing key (${dir})`
        : name === undefined
          ? `this root has several signing keys (${names.join(', ')})`
          : `this root has no signing key named "${name}"`,
      {
        hint:
          names.length === 0
            ? "make one: ferry keys generate NAME (e.g. this host's name)"
            : 'choose one with --key NAME',
      },
    );
  const file = join(dir, `${pick}.secret`);
  return parseSecretKey(await fs.readFile(file, 'utf8'), file);
}
