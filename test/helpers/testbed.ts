/**
 * Real SSH hosts on this machine, for fleet tests: each host is a network namespace joined to the root
 * namespace by a veth pair, running its own `/usr/sbin/sshd` in its own mount namespace, so that every host
 * sees its own directory at `mountDir` and (optionally) reports an old glibc.
 *
 * Needs root, openssh-server, iproute2 and util-linux; `testbedProblem()` says what is missing.
 * See /work/shared/notes/testbed.md for the facts this is built on.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { connect } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TestHost {
  readonly name: string;
  /** Network namespace name. */
  readonly ns: string;
  /** Address of the host's sshd, reachable from the root namespace (10.N.i.2). */
  readonly ip: string;
  readonly port: number;
  /** Directory (seen from outside) that this host sees at testbed.mountDir. */
  readonly fsDir: string;
  /** Its ed25519 public host key (`ssh-ed25519 AAAA… comment`); follows changeHostKey(). */
  readonly hostKeyPub: string;
}

export interface Testbed {
  /** Temporary base directory of this testbed. */
  readonly dir: string;
  /** A path that every host sees as its own private directory (bind-mounted per host). */
  readonly mountDir: string;
  /** ssh_config for the client: key, user, batch mode, fast key exchange; no host key settings. */
  readonly sshConfig: string;
  /** known_hosts listing every host's original key under its ip (not updated by changeHostKey). */
  readonly knownHosts: string;
  readonly hosts: readonly TestHost[];
  host(name: string): TestHost;
  /**
   * Kill every sshd session process of that host (live connections drop) but keep its listener running.
   * Everything else in the host's network namespace dies too, including a concurrent exec().
   */
  killConnections(name: string): Promise<void>;
  /** Replace the host's host key with a new one and restart its sshd. Returns the new public key. */
  changeHostKey(name: string): Promise<string>;
  /** Run a command inside a host's namespace + mount view (for assertions), returns stdout; cwd is /. */
  exec(name: string, argv: readonly string[]): Promise<string>;
  /** Kill sshds by their pids, delete namespaces and veths, remove dir. Idempotent. */
  stop(): Promise<void>;
}

export interface HostOptions {
  readonly name: string;
  /** Fake glibc version reported by `getconf GNU_LIBC_VERSION` and `ldd --version` on that host. */
  readonly glibc?: string;
  /** false: the host has no working zstd (/bin/false is bound over it), so it must be sent gzip. */
  readonly zstd?: false;
}

/** sshd re-executes itself and refuses to start unless run by absolute path. */
const SSHD = '/usr/sbin/sshd';

/** sshd gets a fixed environment, so the test's (NODE_OPTIONS, HOME…) does not leak into sessions. */
const SERVER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

/**
 * Runs as `ip netns exec NS sh -c SCRIPT sh SRC DST … -- CMD…`. `ip netns exec` unshares the mount
 * namespace (and makes / a slave), so these binds are seen only by this sshd and its sessions. Paths are
 * positional parameters, never interpolated.
 */
const MOUNT_AND_EXEC =
  'set -e; while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"';

/** Paths go into sshd_config and the fake scripts unquoted or single-quoted; keep them boring. */
const SAFE_PATH = /^[\w./-]+$/;

const WAIT_LISTEN_MS = 10_000;
const WAIT_GONE_MS = 5_000;

function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs.filter((x) => x !== '')) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function tool(name: string): string {
  const path = findTool(name);
  if (path === undefined) throw new Error(`testbed: ${name} not found`);
  return path;
}

/** Why a testbed cannot run here (not root, no sshd, no ip…), or undefined. */
export function testbedProblem(): string | undefined {
  const uid = process.getuid?.();
  if (uid !== 0) return `needs root (running as uid ${uid ?? 'unknown'})`;
  if (!existsSync(SSHD)) return `no ${SSHD} (install openssh-server)`;
  for (const t of ['ip', 'nsenter', 'unshare', 'mount', 'ssh', 'ssh-keygen']) {
    if (findTool(t) === undefined) return `no ${t} on PATH`;
  }
  try {
    // Root in a container may still lack CAP_SYS_ADMIN; find out here rather than half-way through a start.
    execFileSync(tool('unshare'), ['--net', '--mount', 'true'], { stdio: 'ignore' });
  } catch {
    return 'cannot create network and mount namespaces (unshare --net --mount failed)';
  }
  return undefined;
}

/** One running sshd listener; a restart makes a new one so a late exit of the old cannot be mistaken. */
interface Listener {
  readonly child: ChildProcess;
  stderr: string;
  exit?: string;
}

class Host implements TestHost {
  readonly port = 22;
  hostKeyPub = '';
  listener?: Listener;
  /** (source, target) pairs bind-mounted in the host's mount namespace. */
  binds: readonly string[][] = [];
  readonly ns: string;
  readonly ip: string;
  readonly gateway: string;
  readonly rootVeth: string;
  readonly nsVeth: string;
  readonly hostDir: string;
  readonly fsDir: string;
  readonly opts: HostOptions;

  constructor(opts: HostOptions, bedDir: string, octet2: number, index: number, id: string) {
    this.opts = opts;
    this.ns = `ferry-tb-${id}`;
    this.ip = `10.${octet2}.${index + 1}.2`;
    this.gateway = `10.${octet2}.${index + 1}.1`;
    // Interface names must be at most 15 characters: "tb" + base-36 pid and counter + side.
    this.rootVeth = `tb${id}r`;
    this.nsVeth = `tb${id}n`;
    this.hostDir = join(bedDir, 'hosts', opts.name);
    this.fsDir = join(this.hostDir, 'fs');
  }

  get name(): string {
    return this.opts.name;
  }
  get keyFile(): string {
    return join(this.hostDir, 'ssh_host_ed25519_key');
  }
  get configFile(): string {
    return join(this.hostDir, 'sshd_config');
  }
  get listenerPid(): number | undefined {
    return this.listener?.exit === undefined ? this.listener?.child.pid : undefined;
  }
}

/** Counts hosts made by this process; with the pid it makes names unique on the machine. */
let hostSeq = 0;

function nextId(): string {
  hostSeq += 1;
  return `${process.pid.toString(36)}x${hostSeq.toString(36)}`;
}

async function run(cmd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 << 20 });
  return stdout;
}

/** Best-effort synchronous command, for teardown (also from an exit handler). */
function runSync(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** A random 10.N/16 that no address or route on this machine uses yet, so parallel test files do not meet. */
async function pickSecondOctet(): Promise<number> {
  const ip = tool('ip');
  const seen = (await run(ip, ['-4', '-o', 'addr', 'show'])) + (await run(ip, ['-4', 'route', 'show']));
  const used = new Set([...seen.matchAll(/\b10\.(\d+)\./g)].map((m) => Number(m[1])));
  for (let attempt = 0; attempt < 100; attempt++) {
    const n = randomInt(16, 255);
    if (!used.has(n)) return n;
  }
  throw new Error('testbed: no free 10.N.0.0/16 network');
}

async function keygen(file: string, comment: string): Promise<string> {
  await fs.rm(file, { force: true });
  await fs.rm(`${file}.pub`, { force: true });
  await run(tool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
}

/** State in /proc/PID/stat; orphans here are reaped late and `kill -0` succeeds on a zombie. */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

async function waitGone(pids: readonly number[], what: string): Promise<void> {
  const deadline = Date.now() + WAIT_GONE_MS;
  while (pids.some((p) => !isGone(p))) {
    if (Date.now() > deadline) throw new Error(`testbed: ${what} still running after ${WAIT_GONE_MS} ms`);
    await sleep(10);
  }
}

/** Best effort: wait until the processes' parents have collected them (no /proc entry left). */
async function waitReaped(pids: readonly number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some((p) => existsSync(`/proc/${p}`)) && Date.now() < deadline) await sleep(10);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function nsPidsSync(ns: string): number[] {
  return runSync(tool('ip'), ['netns', 'pids', ns])
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000);
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('timeout', () => {
      done(false);
    });
  });
}

function sshdConfig(h: Host, authorizedKeys: string): string {
  return `${[
    `ListenAddress ${h.ip}:${h.port}`,
    `HostKey ${h.keyFile}`,
    `PidFile ${join(h.hostDir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    // authorized_keys lives under /tmp, which is world-writable.
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxSessions 30',
    'MaxStartups 100',
    'LogLevel ERROR',
    // scp uses the sftp protocol since OpenSSH 9.0.
    'Subsystem sftp /usr/lib/openssh/sftp-server',
  ].join('\n')}\n`;
}

/** Root's shell becomes /bin/sh and its home a per-host directory: root's ~/.bashrc is slow here. */
function passwdWithPlainRoot(passwd: string, home: string): string {
  return passwd
    .split('\n')
    .map((line) => {
      const f = line.split(':');
      if (f[0] !== 'root' || f.length < 7) return line;
      f[5] = home;
      f[6] = '/bin/sh';
      return f.join(':');
    })
    .join('\n');
}

function fakeGetconf(version: string, real: string): string {
  return `#!/bin/sh
# Testbed fake for an old-glibc host: only GNU_LIBC_VERSION is faked.
if [ "$#" -eq 1 ] && [ "$1" = GNU_LIBC_VERSION ]; then echo 'glibc ${version}'; exit 0; fi
exec '${real}' "$@"
`;
}

function fakeLdd(version: string, real: string): string {
  return `#!/bin/sh
# Testbed fake for an old-glibc host: only --version is faked.
case "$1" in
--version | -v)
  echo 'ldd (GNU libc) ${version}'
  echo 'Copyright (C) 2012 Free Software Foundation, Inc.'
  exit 0 ;;
esac
exec '${real}' "$@"
`;
}

/** Bind pairs (source file/dir, target) that make up one host's view. */
async function prepareHostFiles(h: Host, mountDir: string): Promise<string[][]> {
  const home = join(h.hostDir, 'home');
  await fs.mkdir(h.fsDir, { recursive: true });
  await fs.mkdir(home, { recursive: true, mode: 0o700 });
  const passwd = join(h.hostDir, 'passwd');
  await fs.writeFile(passwd, passwdWithPlainRoot(await fs.readFile('/etc/passwd', 'utf8'), home));
  const binds = [
    [h.fsDir, mountDir],
    [passwd, '/etc/passwd'],
  ];
  if (h.opts.glibc !== undefined) binds.push(...(await prepareFakeGlibc(h, h.opts.glibc)));
  if (h.opts.zstd === false) binds.push([tool('false'), tool('zstd')]);
  return binds;
}

async function prepareFakeGlibc(h: Host, version: string): Promise<string[][]> {
  if (!/^\d+\.\d+$/.test(version))
    throw new Error(`testbed: glibc version must look like 2.17, not ${version}`);
  const bin = join(h.hostDir, 'bin');
  await fs.mkdir(bin, { recursive: true });
  const binds: string[][] = [];
  for (const [name, fake] of [
    ['getconf', fakeGetconf],
    ['ldd', fakeLdd],
  ] as const) {
    // The fake delegates to a copy: inside the host the original path is covered by the fake.
    const real = join(bin, `${name}.real`);
    await fs.copyFile(`/usr/bin/${name}`, real);
    await fs.chmod(real, 0o755);
    await fs.writeFile(join(bin, name), fake(version, real), { mode: 0o755 });
    binds.push([join(bin, name), `/usr/bin/${name}`]);
  }
  return binds;
}

/** Every live testbed, so an exit or a fatal signal can still take the namespaces down. */
const live = new Set<Bed>();
const FATAL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onExit(): void {
  for (const bed of live) bed.teardownSync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  unwatchProcess();
  // Our listener suppressed the default action; take it ourselves unless someone else handles the signal.
  // (Re-raising does not work: Node still catches the signal right after the listener is removed.)
  if (process.listenerCount(signal) === 0) process.exit(128 + osConstants.signals[signal]);
}

function watchProcess(): void {
  if (live.size !== 1) return;
  process.on('exit', onExit);
  for (const s of FATAL_SIGNALS) process.on(s, onSignal);
}

function unwatchProcess(): void {
  process.off('exit', onExit);
  for (const s of FATAL_SIGNALS) process.off(s, onSignal);
}

class Bed implements Testbed {
  readonly dir: string;
  readonly mountDir: string;
  readonly sshConfig: string;
  readonly knownHosts: string;
  readonly hosts: readonly Host[];
  private readonly clientDir: string;
  private stopping?: Promise<void>;

  constructor(dir: string, options: readonly HostOptions[], octet2: number) {
    this.dir = dir;
    this.mountDir = join(dir, 'mnt');
    this.sshConfig = join(dir, 'ssh_config');
    this.knownHosts = join(dir, 'known_hosts');
    this.clientDir = join(dir, 'client');
    this.hosts = options.map((o, i) => new Host(o, dir, octet2, i, nextId()));
    live.add(this);
    watchProcess();
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`testbed: no host ${name}`);
    return h;
  }

  async start(): Promise<void> {
    await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    await fs.mkdir(this.mountDir);
    await fs.mkdir(this.clientDir);
    const clientKey = join(this.clientDir, 'id_ed25519');
    const authorizedKeys = join(this.clientDir, 'authorized_keys');
    await fs.writeFile(authorizedKeys, `${await keygen(clientKey, 'testbed-client')}\n`);
    await fs.writeFile(this.sshConfig, clientConfig(clientKey));
    await Promise.all(this.hosts.map((h) => this.startHost(h, authorizedKeys)));
    await fs.writeFile(this.knownHosts, this.hosts.map((h) => knownHostsLine(h)).join(''));
  }

  private async startHost(h: Host, authorizedKeys: string): Promise<void> {
    h.binds = await prepareHostFiles(h, this.mountDir);
    h.hostKeyPub = await keygen(h.keyFile, `testbed-${h.name}`);
    await fs.writeFile(h.configFile, sshdConfig(h, authorizedKeys));
    await plugIn(h);
    await startSshd(h);
  }

  async killConnections(name: string): Promise<void> {
    const h = this.host(name);
    // Session processes (and their commands) are the listener's descendants, all in the host's namespace.
    const pids = nsPidsSync(h.ns).filter((p) => p !== h.listenerPid);
    for (const p of pids) kill(p, 'SIGKILL');
    await waitGone(pids, `sessions of ${name}`);
  }

  async changeHostKey(name: string): Promise<string> {
    const h = this.host(name);
    h.hostKeyPub = await keygen(h.keyFile, `testbed-${h.name}-changed`);
    await stopSshd(h);
    await startSshd(h);
    return h.hostKeyPub;
  }

  async exec(name: string, argv: readonly string[]): Promise<string> {
    const pid = this.host(name).listenerPid;
    if (pid === undefined) throw new Error(`testbed: sshd of ${name} is not running`);
    // The listener's namespaces are the host's: its network and its own mount view.
    return run(tool('nsenter'), ['-t', String(pid), '-m', '-n', '--', ...argv]);
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    // Sessions first, while their listener lives to reap them: pid 1 here reaps orphans late, and the
    // zombies would linger in `pgrep sshd` for seconds after a test.
    const sessions = this.hosts.flatMap((h) => nsPidsSync(h.ns).filter((p) => p !== h.listenerPid));
    for (const p of sessions) kill(p, 'SIGKILL');
    await waitReaped(sessions, 1000);
    const pids = this.teardownSync();
    await waitGone(pids, 'testbed processes');
  }

  /** Kill, unplug and delete everything; synchronous so the exit handler can use it too. */
  teardownSync(): number[] {
    live.delete(this);
    if (live.size === 0) unwatchProcess();
    const pids: number[] = [];
    for (const h of this.hosts) {
      // Only our own namespace's processes: the listener and what it started.
      const own = [
        ...nsPidsSync(h.ns),
        ...(h.listener?.child.pid !== undefined ? [h.listener.child.pid] : []),
      ];
      for (const p of own) kill(p, 'SIGKILL');
      pids.push(...own);
      // Deleting the root-side end removes the pair at once; the namespace's end would go only later.
      runSync(tool('ip'), ['link', 'del', h.rootVeth]);
      runSync(tool('ip'), ['netns', 'del', h.ns]);
    }
    // We are root, so read-only directories left by a test do not stop the removal.
    rmSync(this.dir, { recursive: true, force: true });
    return pids;
  }
}

function clientConfig(identityFile: string): string {
  return `Host *
  User root
  IdentityFile ${identityFile}
  IdentitiesOnly yes
  BatchMode yes
  KexAlgorithms curve25519-sha256
`;
}

function knownHostsLine(h: Host): string {
  const [type, key] = h.hostKeyPub.split(' ');
  return `${h.ip} ${type ?? ''} ${key ?? ''}\n`;
}

async function plugIn(h: Host): Promise<void> {
  const ip = tool('ip');
  await run(ip, ['netns', 'add', h.ns]);
  await run(ip, ['link', 'add', h.rootVeth, 'type', 'veth', 'peer', 'name', h.nsVeth, 'netns', h.ns]);
  await run(ip, ['addr', 'add', `${h.gateway}/24`, 'dev', h.rootVeth]);
  await run(ip, ['link', 'set', h.rootVeth, 'up']);
  await run(ip, ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.nsVeth]);
  await run(ip, ['-n', h.ns, 'link', 'set', h.nsVeth, 'up']);
  await run(ip, ['-n', h.ns, 'link', 'set', 'lo', 'up']);
}

/**
 * `ip netns exec` and `sh` both exec, so the child's pid is sshd's. It stays in our process group: a Ctrl-C
 * of the test run reaches it too. Unref'd so a test that forgets stop() still exits (the exit hook cleans).
 */
async function startSshd(h: Host): Promise<void> {
  const args = ['netns', 'exec', h.ns, '/bin/sh', '-c', MOUNT_AND_EXEC, 'sh', ...h.binds.flat(), '--'];
  const child = spawn(tool('ip'), [...args, SSHD, '-D', '-e', '-f', h.configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: SERVER_ENV,
  });
  const listener: Listener = { child, stderr: '' };
  h.listener = listener;
  child.stderr?.on('data', (d: Buffer) => {
    listener.stderr = (listener.stderr + d.toString()).slice(-16_384);
  });
  child.on('error', (e) => (listener.exit = e.message));
  child.on('exit', (code, signal) => (listener.exit = `code ${code ?? '-'}, signal ${signal ?? '-'}`));
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  await waitListening(h, listener);
}

async function waitListening(h: Host, listener: Listener): Promise<void> {
  const deadline = Date.now() + WAIT_LISTEN_MS;
  for (;;) {
    if (listener.exit !== undefined) {
      throw new Error(`testbed: sshd of ${h.name} exited (${listener.exit}); stderr:\n${listener.stderr}`);
    }
    if (await canConnect(h.ip, h.port)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `testbed: sshd of ${h.name} did not accept TCP on ${h.ip}:${h.port} within ${WAIT_LISTEN_MS} ms; ` +
          `stderr:\n${listener.stderr}`,
      );
    }
    await sleep(20);
  }
}

/** Stop only the listener, as a service restart would: established sessions keep running. */
async function stopSshd(h: Host): Promise<void> {
  const pid = h.listenerPid;
  if (pid === undefined) return;
  kill(pid, 'SIGTERM');
  await waitGone([pid], `sshd of ${h.name}`);
}

/** Start sshd hosts (in parallel); on any failure everything already made is torn down again. */
export async function startTestbed(hosts: readonly HostOptions[]): Promise<Testbed> {
  const names = hosts.map((h) => h.name);
  if (new Set(names).size !== names.length || names.some((n) => !/^[\w-]+$/.test(n))) {
    throw new Error(`testbed: host names must be distinct words, got ${names.join(', ')}`);
  }
  const octet2 = await pickSecondOctet();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-testbed-'));
  if (!SAFE_PATH.test(dir)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`testbed: temporary directory ${dir} has unusual characters; set TMPDIR`);
  }
  const bed = new Bed(dir, hosts, octet2);
  try {
    await bed.start();
  } catch (e) {
    await bed.stop().catch(() => undefined);
    throw e;
  }
  return bed;
}
