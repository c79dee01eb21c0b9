import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { AppError } from '../core/index.js';

/**
 * One argument for a POSIX shell, whatever it holds: wrapped in single quotes, each inner quote closed,
 * escaped and reopened. Nothing inside single quotes is special to sh, bash, dash, ksh or busybox sh.
 */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `sh -c SCRIPT sh ARG…` as one command line: the script and every argument quoted, nothing interpolated. */
export function shCommand(script: string, args: readonly string[]): string {
  return ['sh', '-c', script, 'sh', ...args].map(shQuote).join(' ');
}

export interface StreamResult {
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Bytes written to the process's stdin. */
  readonly bytesIn: number;
  readonly timedOut: boolean;
}

export interface StreamOptions {
  /** Fed to stdin with back-pressure; the process sees EOF afterwards. */
  readonly stdin?: AsyncIterable<Uint8Array> | string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  readonly onStdinBytes?: (total: number) => void;
}

const CAPTURE_LIMIT = 4 << 20;

/**
 * Run a program (no shell) with a streamed stdin. Never throws for a non-zero exit: callers decide what it
 * means. A stdin the process stops reading (it exited) ends the feed quietly; the exit status tells why.
 */
export async function runStreaming(
  file: string,
  args: readonly string[],
  options: StreamOptions = {},
): Promise<StreamResult> {
  const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs);
  const out = capture(child.stdout);
  const err = capture(child.stderr);
  const closed = new Promise<[number, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', (e) => {
      reject(new AppError('E_FLEET_CONNECT', `cannot start ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, sig) => {
      resolve([code ?? 128, sig]);
    });
  });
  // A failing input (a file changed while streamed) kills the process, then surfaces once it has exited.
  const fed = feed(child.stdin, options.stdin, options.onStdinBytes).then(
    (n) => ({ n }),
    (e: unknown) => {
      child.kill('SIGKILL');
      return { e };
    },
  );
  try {
    const [exitCode, signal] = await closed;
    const f = await fed;
    if ('e' in f) throw f.e;
    return { exitCode, signal, stdout: await out, stderr: await err, bytesIn: f.n, timedOut };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

async function feed(
  stdin: Writable,
  input: AsyncIterable<Uint8Array> | string | undefined,
  onBytes: ((total: number) => void) | undefined,
): Promise<number> {
  let total = 0;
  // A process that exits closes its stdin without an 'error' event: stop feeding then, or wait forever.
  let broken = false;
  const stop = () => {
    broken = true;
  };
  stdin.on('error', stop);
  stdin.on('close', stop);
  if (input === undefined || typeof input === 'string') {
    stdin.end(input ?? '');
    return Buffer.byteLength(input ?? '');
  }
  try {
    for await (const chunk of input) {
      if (broken || stdin.destroyed || stdin.writableEnded) break;
      total += chunk.length;
      onBytes?.(total);
      if (!stdin.write(chunk)) await drainOrClose(stdin);
    }
  } finally {
    stdin.end();
  }
  return total;
}

function drainOrClose(stream: Writable): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

function capture(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      if (size < CAPTURE_LIMIT) chunks.push(c);
      size += c.length;
    });
    stream.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    stream.on('error', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
