import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../core/index.js';
import { runStreaming, shCommand, shQuote, type StreamOptions, type StreamResult } from './shell.js';

export interface SshEndpoint {
  readonly user?: string;
  readonly host: string;
  readonly port?: number;
}

export interface SshSettings {
  /** An ssh_config to use instead of ~/.ssh/config (`-F`). */
  readonly configFile?: string;
  /** Known-hosts files, searched in order; ~/.ssh/known_hosts is added last. Nothing is ever written to them. */
  readonly knownHostsFiles: readonly string[];
  readonly connectTimeoutS?: number;
}

/** `user@host:port` as people write it; the port only when it is not 22. */
export function formatEndpoint(e: SshEndpoint): string {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  return `${e.user === undefined ? '' : `${e.user}@`}${host}${e.port === undefined || e.port === 22 ? '' : `:${e.port}`}`;
}

/**
 * One multiplexed OpenSSH connection (the system's client, so ~/.ssh/config, agents, ProxyJump and
 * known_hosts work as users expect). Host keys are checked strictly: ssh refuses unknown and changed keys,
 * and ferry never adds one by itself.
 */
export class SshConnection {
  readonly label: string;
  private readonly base: readonly string[];
  private readonly dest: string;
  private readonly controlDir: string;
  private master: ChildProcess | undefined;
  /** The login session's output so far, and the line that ends each answer in it (see firstCommand). */
  private out = '';
  private err = '';
  private marker = '';
  /** Scripts the login session runs on request (FirstCommand.served), and the requests' turn. */
  private served: readonly string[] = [];
  private turn: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  private constructor(label: string, base: readonly string[], dest: string, controlDir: string) {
    this.label = label;
    this.base = base;
    this.dest = dest;
    this.controlDir = controlDir;
  }

  /** Log in once (the control master); later commands reuse that connection. */
  static async open(label: string, endpoint: SshEndpoint, settings: SshSettings): Promise<SshConnection> {
    return (await SshConnection.login(label, endpoint, settings, undefined)).conn;
  }

  /**
   * Log in and run `first` in the master's own session: its answer comes with the connection, where a
   * separate command would cost another ssh process and session (~50-80 ms a host here). The session then
   * waits on its stdin, which ferry holds open, so the connection lives until close().
   */
  static async openWith(
    label: string,
    endpoint: SshEndpoint,
    settings: SshSettings,
    first: FirstCommand,
  ): Promise<{ conn: SshConnection; first: StreamResult }> {
    const r = await SshConnection.login(label, endpoint, settings, first);
    if (r.first === undefined) throw new Error('Assertion failed: no answer to the first command');
    return { conn: r.conn, first: r.first };
  }

  private static async login(
    label: string,
    endpoint: SshEndpoint,
    settings: SshSettings,
    first: FirstCommand | undefined,
  ): Promise<{ conn: SshConnection; first: StreamResult | undefined }> {
    if (endpoint.host.startsWith('-') || (endpoint.user ?? '').startsWith('-'))
      throw new AppError('E_FLEET_CONNECT', `${label}: "${formatEndpoint(endpoint)}" is not an ssh address`, {
        hint: 'write ssh = "user@host:port"',
      });
    // Synchronous on purpose: the login then starts in the caller's tick, before other work gets the CPU.
    const controlDir = mkdtempSync(join(tmpdir(), 'ferry-ssh-'));
    // The directory is this connection's own, so a short fixed name keeps under the socket path limit.
    const socket = join(controlDir, 'master');
    const base = sshOptions(endpoint, settings, socket);
    const conn = new SshConnection(label, base, endpoint.host, controlDir);
    try {
      return { conn, first: await conn.startMaster(socket, first) };
    } catch (e) {
      await conn.close();
      throw e;
    }
  }

  /**
   * Run `sh -c SCRIPT sh ARG…` on the host; every word is quoted, so nothing in ARGs is ever executed. A script
   * the login session serves (FirstCommand.served) runs there, without a new ssh process and session, when it
   * needs no stdin and no argument holds a newline (a request is one line).
   */
  async run(script: string, args: readonly string[], options: StreamOptions = {}): Promise<StreamResult> {
    // Without its master, ssh would quietly log in again; a dropped connection must stop this host instead.
    if (!this.alive()) throw connectionLost(this.label);
    const served = this.served.indexOf(script);
    if (served >= 0 && options.stdin === undefined && !args.some((a) => a.includes('\n'))) {
      const answer = this.turn.then(() => this.request(served, args, options.timeoutMs));
      this.turn = answer.catch(() => undefined);
      return answer;
    }
    const r = await runStreaming(
      'ssh',
      [...this.base, '-o', 'ControlMaster=no', '--', this.dest, shCommand(script, args)],
      options,
    );
    if (r.exitCode === 255 && !r.timedOut) throw sshFailure(this.label, r.stderr, this.base);
    return r;
  }

  /**
   * Ends the master and removes its directory. The master's exit is not awaited: SIGTERM ends it at once, and
   * a command's end would otherwise wait for its pipes to close (it unlinks a socket that is already gone).
   */
  async close(): Promise<void> {
    const m = this.master;
    this.master = undefined;
    if (m?.exitCode === null && m.signalCode === null) m.kill('SIGTERM');
    await fs.rm(this.controlDir, { recursive: true, force: true });
  }

  private async startMaster(
    socket: string,
    first: FirstCommand | undefined,
  ): Promise<StreamResult | undefined> {
    this.marker = `ferry-answered-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    this.served = first?.served ?? [];
    const command =
      first === undefined ? ['-N', '--', this.dest] : ['--', this.dest, firstCommand(first, this.marker)];
    const m = spawn('ssh', [...this.base, '-M', '-o', 'ControlPersist=no', ...command], {
      stdio: [first === undefined ? 'ignore' : 'pipe', first === undefined ? 'ignore' : 'pipe', 'pipe'],
    });
    this.master = m;
    const notify = () => {
      for (const f of this.listeners) f();
    };
    m.stderr?.on('data', (d: Buffer) => {
      this.err += d.toString();
      notify();
    });
    m.stdout?.on('data', (d: Buffer) => {
      this.out += d.toString();
      notify();
    });
    const exited = new Promise<number>((resolve) =>
      m.once('close', (code) => {
        resolve(code ?? 255);
        notify();
      }),
    );
    m.once('error', () => undefined);
    const firstAnswer = this.answer(0, undefined);
    const deadline = Date.now() + (first?.timeoutMs ?? Infinity);
    const events = dirEvents(this.controlDir);
    let ready = false;
    try {
      for (;;) {
        const code = await Promise.race([exited, events.next(100), firstAnswer.then(() => undefined)]);
        if (code !== undefined) throw sshFailure(this.label, this.err, this.base);
        if (Date.now() > deadline) {
          m.kill('SIGKILL');
          return killed(this.out, this.err);
        }
        if (!(await isSocket(socket))) continue;
        if (first === undefined) return undefined;
        if (!ready) first.onReady?.(this);
        ready = true;
        const r = parseAnswer(this.out, 0, this.marker);
        if (r !== undefined) return answered(r.exitCode, r.text, this.err);
      }
    } finally {
      events.close();
      firstAnswer.cancel();
    }
  }

  /** One served script run by the login session (see firstCommand): a line in, its answer out. */
  private async request(
    index: number,
    args: readonly string[],
    timeoutMs: number | undefined,
  ): Promise<StreamResult> {
    const m = this.master;
    if (m === undefined || m.stdin === null || !this.alive()) throw connectionLost(this.label);
    const o0 = this.out.length;
    const e0 = this.err.length;
    m.stdin.write(`${[String(index), ...args].map(shQuote).join(' ')}\n`);
    const answer = this.answer(o0, e0);
    // The session's one request cannot be stopped alone: past its time, the connection goes.
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            m.kill('SIGKILL');
          }, timeoutMs);
    try {
      const r = await answer;
      if (r !== undefined) return r;
      const stdout = this.out.slice(o0);
      const stderr = this.err.slice(e0);
      if (timedOut) return killed(stdout, stderr);
      throw sshFailure(this.label, stderr, this.base);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The login session's next answer after the given offsets of its stdout and stderr (stderr undefined: the
   * first command's, marked on stdout only), or undefined when the session ends first.
   */
  private answer(o0: number, e0: number | undefined): Promise<StreamResult | undefined> & { cancel(): void } {
    let listener: (() => void) | undefined;
    const p = new Promise<StreamResult | undefined>((resolve) => {
      listener = () => {
        const o = parseAnswer(this.out, o0, this.marker);
        const e = e0 === undefined ? { exitCode: 0, text: this.err } : parseAnswer(this.err, e0, this.marker);
        if (o !== undefined && e !== undefined) resolve(answered(o.exitCode, o.text, e.text));
        else if (!this.alive()) resolve(undefined);
        else return;
        if (listener !== undefined) this.listeners.delete(listener);
      };
      this.listeners.add(listener);
      listener();
    });
    return Object.assign(p, { cancel: () => listener !== undefined && this.listeners.delete(listener) });
  }

  private alive(): boolean {
    return this.master?.exitCode === null && this.master.signalCode === null;
  }
}

/** What the login session answered (no stdin is fed to it: bytesIn is 0). */
function answered(exitCode: number, stdout: string, stderr: string): StreamResult {
  return { exitCode, signal: null, stdout, stderr, bytesIn: 0, timedOut: false };
}

/** A first command or request stopped past its time: its connection was killed. */
function killed(stdout: string, stderr: string): StreamResult {
  return { exitCode: 128, signal: 'SIGKILL', stdout, stderr, bytesIn: 0, timedOut: true };
}

function connectionLost(label: string): AppError {
  return new AppError('E_FLEET_CONNECT', `${label}: the connection was lost`, {
    hint: 'check the host and the network; an interrupted deploy continues where it stopped on the next run',
  });
}

/**
 * The master's remote command: `first` in a subshell, then a marker line with its status (a line no output
 * holds by chance). Then the session serves requests on its stdin, which ferry holds open, so the session
 * (and the master) lives on until ferry closes it: each request is one line of quoted words, the index of a
 * served script and its arguments; the script runs with stdin from /dev/null (a line meant for the session
 * must not be read by it, nor by a health check), and its status ends its output with the marker line, on
 * stdout and on stderr. Without served scripts, the session only waits on stdin.
 */
function firstCommand(first: FirstCommand, marker: string): string {
  const served = first.served ?? [];
  const serve =
    served.length === 0
      ? 'exec cat >/dev/null'
      : [
          'while IFS= read -r ferry_rq; do',
          '  eval "set -- $ferry_rq"',
          '  ferry_i=$1; shift',
          '  case $ferry_i in',
          ...served.map((script, i) => `  ${i}) sh -c ${shQuote(script)} sh "$@" </dev/null ;;`),
          '  *) false ;;',
          '  esac',
          '  ferry_st=$?',
          `  echo "${marker} $ferry_st"`,
          `  echo "${marker} $ferry_st" >&2`,
          'done',
        ].join('\n');
  return shCommand(`(\n${first.script}\n)\necho "${marker} $?"\n${serve}`, first.args);
}

/** The text after `from` up to the marker line, and the status the line gives, once the line has arrived. */
function parseAnswer(
  text: string,
  from: number,
  marker: string,
): { exitCode: number; text: string } | undefined {
  const at = text.indexOf(`${marker} `, from);
  const end = at < 0 ? -1 : text.indexOf('\n', at);
  if (end < 0) return undefined;
  return { exitCode: Number(text.slice(at + marker.length + 1, end)), text: text.slice(from, at) };
}

/** A command for the master's own session (see SshConnection.openWith). */
export interface FirstCommand {
  readonly script: string;
  readonly args: readonly string[];
  readonly timeoutMs?: number;
  /**
   * Scripts the session then keeps ready: `run` with one of them (the same text) is a line to the session,
   * not a new ssh process and session (each costs a host tens of milliseconds).
   */
  readonly served?: readonly string[];
  /**
   * Called once the connection takes further commands, before the first command has answered: what is
   * started then overlaps with it.
   */
  readonly onReady?: (conn: SshConnection) => void;
}

function sshOptions(e: SshEndpoint, s: SshSettings, socket: string): string[] {
  const known = [...s.knownHostsFiles.map(quoteForSsh), '~/.ssh/known_hosts'].join(' ');
  return [
    ...endpointArgs(e, s.configFile),
    ...options([
      'BatchMode=yes',
      'StrictHostKeyChecking=yes',
      `UserKnownHostsFile=${known}`,
      `ConnectTimeout=${s.connectTimeoutS ?? 15}`,
      'ServerAliveInterval=5',
      'ServerAliveCountMax=3',
      `ControlPath=${socket}`,
    ]),
    '-T',
  ];
}

/** The config file, user and port of every ssh command to this endpoint (its host goes after `--`). */
function endpointArgs(e: SshEndpoint, configFile: string | undefined): string[] {
  return [
    ...(configFile === undefined ? [] : ['-F', configFile]),
    ...(e.user === undefined ? [] : ['-l', e.user]),
    ...(e.port === undefined ? [] : ['-p', String(e.port)]),
  ];
}

/** `-o KEY=VALUE` for each. */
function options(settings: readonly string[]): string[] {
  return settings.flatMap((o) => ['-o', o]);
}

/** ssh splits option values on spaces and honours double quotes. */
function quoteForSsh(path: string): string {
  return /[\s"]/.test(path) ? `"${path.replaceAll('"', '\\"')}"` : path;
}

/** ssh's own words, sorted into what the user must do about them. */
function sshFailure(label: string, stderr: string, base: readonly string[]): AppError {
  const said = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('@@@') && l.trim() !== '');
  const text = said.slice(-3).join(' / ') || 'the connection dropped (ssh exited with status 255)';
  const knownFile = base.find((a) => a.startsWith('UserKnownHostsFile='))?.slice(19) ?? '';
  if (stderr.includes('IDENTIFICATION HAS CHANGED'))
    return new AppError(
      'E_FLEET_HOSTKEY',
      `${label}: the host key has CHANGED since it was trusted (${text})`,
      {
        hint: `someone may be intercepting the connection, or the host was reinstalled; verify the new key out of band, then remove the old line from ${knownFile} and run: ferry hosts trust ${label}`,
      },
    );
  if (/Host key verification failed|No \S+ host key is known/.test(stderr))
    return new AppError('E_FLEET_HOSTKEY', `${label}: the host's key is not known (${text})`, {
      hint: `check and record its fingerprint: ferry hosts trust ${label}`,
    });
  if (stderr.includes('Permission denied'))
    return new AppError('E_FLEET_CONNECT', `${label}: login refused (${text})`, {
      hint: 'ferry logs in with your SSH keys or agent (no passwords); check the user and that your key is in its authorized_keys',
    });
  return new AppError('E_FLEET_CONNECT', `${label}: ${text}`, {
    hint: 'check that the host is up and reachable with ssh; an interrupted deploy continues where it stopped on the next run',
  });
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await fs.lstat(path)).isSocket();
  } catch {
    return false;
  }
}

/**
 * Wake-ups for changes in `dir`: inotify says the moment ssh makes its control socket (a poll every 25 ms cost
 * 12 ms a login on average); `next` also returns after `ms`, in case watching fails or an event came early.
 */
function dirEvents(dir: string): { next(ms: number): Promise<undefined>; close(): void } {
  let pending = false;
  let wake: (() => void) | undefined;
  const onEvent = () => {
    if (wake === undefined) pending = true;
    else wake();
  };
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dir, onEvent);
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  return {
    next: (ms) =>
      new Promise((resolve) => {
        if (pending) {
          pending = false;
          resolve(undefined);
          return;
        }
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve(undefined);
        };
        const timer = setTimeout(done, ms);
        wake = done;
      }),
    close: () => watcher?.close(),
  };
}

/**
 * The host key a server offers, with its SHA256 fingerprint, for a person to compare. Fetched by ssh itself,
 * so the user's ssh_config applies as for every other command (Host aliases, HostName, Port, ProxyJump,
 * HostKeyAlias, HostKeyAlgorithms), which ssh-keyscan would ignore: ssh connects with a scratch known_hosts
 * that it may add to (accept-new) and with every way to log in turned off, so it learns the key and stops
 * there. Nothing is trusted here; the line is as ssh will look it up later.
 */
export async function scanHostKeys(
  endpoint: SshEndpoint,
  settings: Pick<SshSettings, 'configFile' | 'connectTimeoutS'> = {},
): Promise<{ line: string; type: string; fingerprint: string }[]> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'ferry-hostkey-'));
  const scratch = join(dir, 'known_hosts');
  try {
    const r = await runStreaming('ssh', [
      ...endpointArgs(endpoint, settings.configFile),
      ...options([
        'BatchMode=yes',
        'StrictHostKeyChecking=accept-new',
        `UserKnownHostsFile=${quoteForSsh(scratch)}`,
        'GlobalKnownHostsFile=/dev/null',
        'HashKnownHosts=no',
        'CheckHostIP=no',
        'ControlPath=none',
        `ConnectTimeout=${settings.connectTimeoutS ?? 15}`,
        // No way to log in: ssh learns the key, then stops.
        'PubkeyAuthentication=no',
        'PasswordAuthentication=no',
        'KbdInteractiveAuthentication=no',
        'GSSAPIAuthentication=no',
        'HostbasedAuthentication=no',
      ]),
      '-T',
      '--',
      endpoint.host,
      'exit 0',
    ]);
    const lines = (await fs.readFile(scratch, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    if (lines.length === 0) {
      const said = r.stderr.trim().split('\n').slice(-2).join(' / ');
      throw new AppError(
        'E_FLEET_CONNECT',
        `${formatEndpoint(endpoint)} offered no host key (${said || 'no answer'})`,
        {
          hint: 'check that sshd runs there, and the address and port (ssh_config applies, as for ssh)',
        },
      );
    }
    const out = [];
    for (const line of lines) {
      const fp = await runStreaming('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { stdin: `${line}\n` });
      const fields = fp.stdout.trim().split(/\s+/);
      const type = (fields[fields.length - 1] ?? '').replace(/[()]/g, '');
      out.push({ line, type, fingerprint: fields[1] ?? '' });
    }
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
