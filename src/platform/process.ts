import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { AppError } from '../core/index.js';

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Output of both streams is appended here (a build log). */
  readonly logFile?: string;
  /** Called with each complete line of output, for progress display. */
  readonly onLine?: (line: string) => void;
  readonly stdin?: string;
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const CAPTURE_LIMIT = 1 << 20;

/** Run a program without a shell; never throws for a non-zero exit (callers decide what failure means). */
export async function runProcess(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    signal: options.signal,
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const out = collect(child.stdout, log, options.onLine);
  const err = collect(child.stderr, log, options.onLine);
  const [exitCode, signal] = await new Promise<[number, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', (e) => {
      reject(new AppError('E_BUILD_FAILED', `cannot start ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, sig) => {
      resolve([code ?? 128, sig]);
    });
  });
  const result = { exitCode, signal, stdout: await out, stderr: await err };
  if (log !== undefined) await new Promise<void>((resolve) => log.end(resolve));
  return result;
}

function collect(
  stream: NodeJS.ReadableStream | null,
  log: NodeJS.WritableStream | undefined,
  onLine: ((line: string) => void) | undefined,
): Promise<string> {
  return new Promise((resolve) => {
    if (stream === null) {
      resolve('');
      return;
    }
    let text = '';
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      log?.write(chunk);
      const s = chunk.toString('utf8');
      if (text.length < CAPTURE_LIMIT) text += s;
      if (onLine !== undefined) {
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      }
    });
    stream.on('end', () => {
      resolve(text);
    });
  });
}
