import { AppError } from '../core/index.js';
import { locateField, type FieldPath } from '../recipe/index.js';

/** Where a host is: over OpenSSH, or a local directory treated exactly like a remote root. */
export type HostAddress =
  | { readonly kind: 'ssh'; readonly user?: string; readonly host: string; readonly port?: number }
  | { readonly kind: 'path'; readonly dir: string };

/** One `[hosts.NAME]` table of ferry.toml. */
export interface ManifestHost {
  readonly name: string;
  readonly address: HostAddress;
  /** ferry's root on the host (absolute); for a path host, the directory itself. */
  readonly root: string;
  readonly profiles: readonly string[];
  readonly groups: readonly string[];
  /** A shell command run on the host after a switch; non-zero exit rolls the host back. */
  readonly check?: string;
  readonly checkTimeoutS: number;
  readonly line: number;
}

/** `[fleet]`: how ferry reaches hosts. Paths are absolute (resolved against the manifest's directory). */
export interface FleetSettings {
  readonly sshConfig?: string;
  /** Where `ferry hosts trust` records host keys, searched before ~/.ssh/known_hosts. */
  readonly knownHosts: string;
}

const HOST_KEYS = ['ssh', 'path', 'root', 'profiles', 'groups', 'check', 'check-timeout'];
const FLEET_KEYS = ['ssh-config', 'known-hosts'];

type Fail = (path: FieldPath, message: string, hint: string) => never;

export interface HostsInput {
  readonly hosts: unknown;
  readonly fleet: unknown;
  readonly profiles: ReadonlySet<string>;
  readonly text: string;
  readonly file: string;
  /** The manifest's directory, to resolve relative paths against. */
  readonly dir: string;
}

export function parseHosts(input: HostsInput): { hosts: ManifestHost[]; fleet: FleetSettings } {
  const { text, file } = input;
  const fail: Fail = (path, message, hint) => {
    const pos = locateField(text, path);
    const field = path.join('.');
    throw new AppError('E_MANIFEST_FIELD', `${file}:${pos.line}:${pos.column}: field ${field}: ${message}`, {
      hint,
      details: { file, line: pos.line, column: pos.column, field },
    });
  };
  const fleet = parseFleet(input, fail);
  if (input.hosts === undefined) return { hosts: [], fleet };
  if (!isTable(input.hosts)) return fail(['hosts'], 'expected tables', 'write [hosts.NAME]');
  const hosts = Object.entries(input.hosts).map(([name, v]) => parseHost(input, name, v, fail));
  return { hosts, fleet };
}

function parseFleet(input: HostsInput, fail: Fail): FleetSettings {
  const knownDefault = joinPath(input.dir, 'ferry.known_hosts');
  if (input.fleet === undefined) return { knownHosts: knownDefault };
  if (!isTable(input.fleet)) return fail(['fleet'], 'expected a table', 'write [fleet]');
  for (const k of Object.keys(input.fleet))
    if (!FLEET_KEYS.includes(k))
      fail(['fleet', k], `unknown field "${k}"`, `[fleet] has: ${FLEET_KEYS.join(', ')}`);
  const str = (k: string) => {
    const v = (input.fleet as Record<string, unknown>)[k];
    if (v !== undefined && (typeof v !== 'string' || v === ''))
      fail(['fleet', k], 'expected a file path', `e.g. ${k} = "ssh/config"`);
    return v === undefined ? undefined : joinPath(input.dir, v);
  };
  const sshConfig = str('ssh-config');
  return {
    ...(sshConfig === undefined ? {} : { sshConfig }),
    knownHosts: str('known-hosts') ?? knownDefault,
  };
}

function parseHost(input: HostsInput, name: string, value: unknown, fail: Fail): ManifestHost {
  const at = (k?: string): FieldPath => (k === undefined ? ['hosts', name] : ['hosts', name, k]);
  if (!isTable(value)) return fail(at(), 'expected a table', `write [hosts.${quoteKey(name)}]`);
  for (const k of Object.keys(value))
    if (!HOST_KEYS.includes(k)) fail(at(k), `unknown field "${k}"`, `a host has: ${HOST_KEYS.join(', ')}`);
  const str = (k: string): string | undefined => {
    const v = value[k];
    if (v !== undefined && (typeof v !== 'string' || v.trim() === ''))
      fail(at(k), 'expected a non-empty string', 'quote it');
    return v;
  };
  const list = (k: string): string[] => {
    const v = value[k] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))
      return fail(at(k), 'expected a list of names', `e.g. ${k} = ["web"]`);
    return v as string[];
  };
  const ssh = str('ssh');
  const path = str('path');
  if ((ssh === undefined) === (path === undefined))
    fail(
      at(),
      'needs exactly one of ssh = "user@host:port" or path = "DIR"',
      'a host is reached over ssh, or is a local directory',
    );
  let root = str('root');
  let address: HostAddress;
  if (ssh !== undefined) {
    address = parseSshAddress(ssh, () =>
      fail(at('ssh'), `"${ssh}" is not user@host[:port]`, 'e.g. ssh = "app@10.0.0.11:22"'),
    );
    if (!root?.startsWith('/'))
      fail(
        at(root === undefined ? undefined : 'root'),
        'needs root = "/absolute/path", ferry\'s root on that host',
        'e.g. root = "/home/app/ferry"',
      );
  } else {
    if (root !== undefined)
      fail(at('root'), 'a path host is its own root', `remove root, or point path at the root directory`);
    root = joinPath(input.dir, path ?? '');
    address = { kind: 'path', dir: root };
  }
  const profiles = list('profiles');
  profiles.forEach((p, i) => {
    if (!input.profiles.has(p))
      fail(
        [...at('profiles'), i],
        `no profile "${p}" in this manifest`,
        `profiles here: ${[...input.profiles].join(', ') || '(none)'}`,
      );
  });
  const timeout = value['check-timeout'] ?? 60;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0)
    fail(at('check-timeout'), 'expected whole seconds', 'e.g. check-timeout = 30');
  const check = str('check');
  return {
    name,
    address,
    root: root,
    profiles,
    groups: list('groups'),
    ...(check === undefined ? {} : { check }),
    checkTimeoutS: timeout,
    line: locateField(input.text, at()).line,
  };
}

/** `user@host`, `host:2222`, `user@[::1]:22`. The host may not start with "-" (it would be an ssh option). */
function parseSshAddress(s: string, bad: () => never): HostAddress {
  const m = /^(?:([^@\s]+)@)?(\[[0-9a-fA-F:.]+\]|[^:@\s[\]]+)(?::(\d{1,5}))?$/.exec(s);
  if (m === null) return bad();
  const [, user, rawHost = '', portText] = m;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = portText === undefined ? undefined : Number(portText);
  if (
    host.startsWith('-') ||
    user?.startsWith('-') === true ||
    (port !== undefined && (port < 1 || port > 65535))
  )
    return bad();
  return {
    kind: 'ssh',
    host,
    ...(user === undefined ? {} : { user }),
    ...(port === undefined ? {} : { port }),
  };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function joinPath(dir: string, p: string): string {
  if (p.startsWith('/')) return p;
  return `${dir.replace(/\/+$/, '')}/${p}`.replace(/\/\.\//g, '/');
}

function quoteKey(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}
