import { AppError } from '../core/index.js';
import {
  formatEndpoint,
  runStreaming,
  SshConnection,
  type FirstCommand,
  type StreamOptions,
  type StreamResult,
} from '../platform/index.js';
import type { FleetHost, FleetSettings } from './types.js';

/** How commands reach a host. Scripts are POSIX sh; arguments are passed as data, never as shell text. */
export interface Transport {
  readonly host: string;
  /** Run `sh -c SCRIPT sh ARG…`; resolves with the exit status (connection failures throw E_FLEET_CONNECT). */
  run(script: string, args: readonly string[], options?: StreamOptions): Promise<StreamResult>;
  close(): Promise<void>;
}

/** A host over OpenSSH, one multiplexed connection for all its commands. */
export class SshTransport implements Transport {
  readonly host: string;
  private readonly conn: SshConnection;

  private constructor(host: string, conn: SshConnection) {
    this.host = host;
    this.conn = conn;
  }

  static async open(host: FleetHost, settings: FleetSettings): Promise<SshTransport> {
    if (host.address.kind !== 'ssh') throw new Error(`Assertion failed: ${host.name} is not an ssh host`);
    const conn = await SshConnection.open(host.name, host.address, sshSettings(settings));
    return new SshTransport(host.name, conn);
  }

  /** Log in and run `first` as part of the login (see SshConnection.openWith). */
  static async openWith(
    host: FleetHost,
    settings: FleetSettings,
    first: TransportFirst,
  ): Promise<{ transport: SshTransport; first: StreamResult }> {
    if (host.address.kind !== 'ssh') throw new Error(`Assertion failed: ${host.name} is not an ssh host`);
    let early: SshTransport | undefined;
    const { onReady, ...rest } = first;
    const r = await SshConnection.openWith(host.name, host.address, sshSettings(settings), {
      ...rest,
      ...(onReady === undefined
        ? {}
        : {
            onReady: (conn: SshConnection) => {
              early = new SshTransport(host.name, conn);
              onReady(early);
            },
          }),
    });
    return { transport: early ?? new SshTransport(host.name, r.conn), first: r.first };
  }

  run(script: string, args: readonly string[], options?: StreamOptions): Promise<StreamResult> {
    return this.conn.run(script, args, options);
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

/** A local directory treated exactly like a remote root: the same scripts, run by the local sh. */
export class LocalTransport implements Transport {
  readonly host: string;

  constructor(host: string) {
    this.host = host;
  }

  run(script: string, args: readonly string[], options?: StreamOptions): Promise<StreamResult> {
    return runStreaming('/bin/sh', ['-c', script, 'sh', ...args], options);
  }

  async close(): Promise<void> {
    // Nothing held open.
  }
}

export async function openTransport(host: FleetHost, settings: FleetSettings): Promise<Transport> {
  return host.address.kind === 'ssh' ? SshTransport.open(host, settings) : new LocalTransport(host.name);
}

/** A first command, whose `onReady` is given the transport that further commands can already use. */
export type TransportFirst = Omit<FirstCommand, 'onReady'> & { readonly onReady?: (t: Transport) => void };

/** Connect and run `first`: over ssh in the login's own session, saving a round of process and session. */
export async function openTransportWith(
  host: FleetHost,
  settings: FleetSettings,
  first: TransportFirst,
): Promise<{ transport: Transport; first: StreamResult }> {
  if (host.address.kind === 'ssh') return SshTransport.openWith(host, settings, first);
  const transport = new LocalTransport(host.name);
  first.onReady?.(transport);
  const options = first.timeoutMs === undefined ? {} : { timeoutMs: first.timeoutMs };
  return { transport, first: await transport.run(first.script, first.args, options) };
}

/** What ssh needs of the fleet's settings: its ssh_config and known_hosts files. */
export function sshSettings(settings: FleetSettings) {
  return {
    knownHostsFiles: [settings.knownHosts],
    ...(settings.sshConfig === undefined ? {} : { configFile: settings.sshConfig }),
  };
}

export function describeAddress(host: FleetHost): string {
  return host.address.kind === 'ssh' ? formatEndpoint(host.address) : host.address.dir;
}

/** Run a script and insist on success: a failure names the host, what was being done and the host's words. */
export async function runChecked(
  t: Transport,
  what: string,
  script: string,
  args: readonly string[],
  options?: StreamOptions,
): Promise<StreamResult> {
  return checkResult(t.host, what, await t.run(script, args, options), options?.timeoutMs);
}

/** A command's result, or the error that names the host, what was being done and the host's words. */
export function checkResult(
  host: string,
  what: string,
  r: StreamResult,
  timeoutMs: number | undefined,
): StreamResult {
  if (r.exitCode === 0 && !r.timedOut) return r;
  const said = r.timedOut
    ? `no answer within ${Math.round((timeoutMs ?? 0) / 1000)} s`
    : r.stderr.trim().split('\n').slice(-4).join(' / ') || `exit status ${r.exitCode}`;
  if (r.exitCode === 75)
    throw new AppError('E_FLEET_BUSY', `${host}: ${what}: ${said}`, {
      hint: 'another deploy is changing this host; wait for it, then deploy again',
    });
  throw new AppError('E_FLEET_REMOTE', `${host}: ${what} failed: ${said}`, {
    hint: 'the host needs sh, tar, gzip and write access to its root; nothing was switched',
  });
}
