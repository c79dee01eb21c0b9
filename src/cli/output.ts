import { writeSync } from 'node:fs';
import { isErrno } from '../core/index.js';

/**
 * Text for stdout (1) or stderr (2), written straight to the descriptor: setting up process.stdout or
 * process.stderr costs ~4 ms of a short command's start. A descriptor made non-blocking (EAGAIN, a parent's
 * pipe) gets the stream, which waits for room; a reader that went away (EPIPE, as `| head` does) gets nothing
 * more. On Linux the streams write synchronously too, so mixing both keeps the order.
 */
export function writeFd(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text);
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(fd, bytes, off);
  } catch (e) {
    if (isErrno(e, 'EPIPE')) return;
    if (!isErrno(e, 'EAGAIN')) throw e;
    (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(off));
  }
}

export const writeErr = (text: string): void => {
  writeFd(2, text);
};
