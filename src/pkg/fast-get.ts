/**
 * A plain-HTTP download read with `net.connect`'s `onread`: the socket reads into one reused buffer and hands
 * each read over, with no stream in between. Node's HTTP client passes a socket's data on 64 KiB at a time
 * through its parser and a readable stream; receiving the bench closure's 156 MB that way cost 0.35–0.46 s of
 * CPU, and 0.08 s this way.
 *
 * It handles one case, the common one: `GET` answered `200` with a Content-Length of the expected size and no
 * transfer or content coding. At anything else (another status, a redirect, a chunked body, a dropped
 * connection, HTTPS) it stops, having yielded nothing wrong, and says how far it got: input.ts goes on from
 * there with Node's HTTP client, which retries, resumes and follows redirects.
 */
import { connect } from 'node:net';

/** The response head is read whole before the body; a larger one is not a static file server's. */
const MAX_HEAD = 64 * 1024;
const READ = 1 << 20;

type Event = { readonly n: number } | { readonly end: true };

/**
 * Yields the body of `url` in pieces of one reused buffer (each used before the next is asked for), counting
 * them in `progress.have`; returns early, with `progress.have < size`, where the caller must take over.
 */
export async function* fastGet(
  url: string,
  size: number,
  progress: { have: number },
  stallMs: number,
): AsyncGenerator<Buffer> {
  const u = URL.canParse(url) ? new URL(url) : undefined;
  if (u?.protocol !== 'http:' || u.username !== '' || u.password !== '') return;
  const buf = Buffer.allocUnsafe(READ);
  const events: Event[] = [];
  let wake: (() => void) | undefined;
  const push = (e: Event) => {
    events.push(e);
    wake?.();
    wake = undefined;
  };
  const socket = connect({
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port === '' ? 80 : u.port),
    onread: {
      buffer: buf,
      // Paused after every read: the next one would overwrite the piece before it is used.
      callback: (n: number) => {
        push({ n });
        return false;
      },
    },
  });
  const ended = () => {
    push({ end: true });
  };
  socket.on('error', ended);
  socket.on('close', ended);
  const next = async (): Promise<Event> => {
    for (;;) {
      const e = events.shift();
      if (e !== undefined) return e;
      await new Promise<void>((r) => (wake = r));
    }
  };
  try {
    // A silent server is left to the HTTP client, which waits as long again and then retries.
    socket.setTimeout(stallMs, () => socket.destroy());
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: ferry\r\n` +
        'Accept-Encoding: identity\r\nConnection: close\r\n\r\n',
    );
    const head = Buffer.allocUnsafe(MAX_HEAD);
    let headLength = 0;
    let inHead = true;
    for (let e = await next(); 'n' in e; e = await next()) {
      let piece: Buffer = buf.subarray(0, e.n);
      if (inHead) {
        // Copied into a buffer of its own (the head is short), searched from where the last piece ended.
        const from = Math.max(0, headLength - 3);
        const took = piece.copy(head, headLength);
        headLength += took;
        const end = head.subarray(0, headLength).indexOf('\r\n\r\n', from);
        if (end < 0) {
          if (headLength === MAX_HEAD) return;
          socket.resume();
          continue;
        }
        if (!acceptable(head.toString('latin1', 0, end), size)) return;
        piece = Buffer.concat([head.subarray(end + 4, headLength), piece.subarray(took)]);
        inHead = false;
      }
      piece = piece.subarray(0, size - progress.have);
      if (piece.length > 0) {
        progress.have += piece.length;
        yield piece;
      }
      if (progress.have === size) return;
      socket.resume();
    }
  } finally {
    socket.destroy();
  }
}

/** A header field's name: an HTTP token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A 200 with exactly `size` bytes of body, as sent: the one response taken here. Anything Node's parser would
 * refuse or read otherwise (a bare LF, a folded line, a name that is not a token) is left to it.
 */
function acceptable(head: string, size: number): boolean {
  if (/(?:^|[^\r])\n/.test(head)) return false;
  const lines = head.split('\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(`${lines[0] ?? ''} `)) return false;
  let length: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (colon < 1 || !TOKEN.test(name)) return false;
    const value = line
      .slice(colon + 1)
      .trim()
      .toLowerCase();
    if (name === 'transfer-encoding') return false;
    if (name === 'content-encoding' && value !== 'identity') return false;
    if (name === 'content-length') {
      if (length !== undefined || !/^[0-9]{1,15}$/.test(value)) return false;
      length = Number(value);
    }
  }
  return length === size;
}
