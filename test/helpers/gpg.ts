import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throw-away OpenPGP signing key in its own GnuPG home, made with the real gpg (Debian's gnupg). */
export interface TestSigner {
  /** The public key, ASCII-armored and binary, as files a user would be handed. */
  readonly armored: string;
  readonly binary: string;
  readonly fingerprint: string;
  /** Clearsigns `input` into `output`, as pkgsrc signs pkg-vulnerabilities. */
  clearsign(input: string, output: string): void;
  /** Stops the gpg-agent the signing started. */
  close(): void;
}

export function makeSigner(dir: string, name: string): TestSigner {
  const home = join(dir, `gnupg-${name}`);
  mkdirSync(home, { mode: 0o700, recursive: true });
  const env = { ...process.env, GNUPGHOME: home, LC_ALL: 'C' };
  const gpg = (args: string[]) => execFileSync('gpg', ['--batch', ...args], { env, stdio: 'pipe' });
  const uid = `${name} <${name}@example.invalid>`;
  gpg(['--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
  const armored = join(dir, `${name}.asc`);
  const binary = join(dir, `${name}.gpg`);
  writeFileSync(armored, gpg(['--armor', '--export', uid]));
  writeFileSync(binary, gpg(['--export', uid]));
  const colons = gpg(['--with-colons', '--fingerprint', uid]).toString('utf8');
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1] ?? '';
  return {
    armored,
    binary,
    fingerprint,
    clearsign: (input, output) => {
      writeFileSync(output, gpg(['--clearsign', '--output', '-', input]));
    },
    close: () => {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
    },
  };
}

/** `file`'s text with its first line matching `re` rewritten by `edit`. */
export function editLine(file: string, re: RegExp, edit: (line: string) => string): void {
  const lines = readFileSync(file, 'latin1').split('\n');
  const i = lines.findIndex((l) => re.test(l));
  if (i < 0) throw new Error(`no line of ${file} matches ${String(re)}`);
  lines[i] = edit(lines[i] ?? '');
  writeFileSync(file, lines.join('\n'), 'latin1');
}
