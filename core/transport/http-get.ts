/**
 * HTTP/1.1 GETs on keep-alive sockets, for bulk downloads. node:http costs about 0.13 ms of CPU
 * per small GET here and copies every body chunk out of the socket's buffer into a new one (on
 * 100 MB that is 100 MB of fresh memory to fault in); this client reads each plain-HTTP socket
 * into one buffer it reuses, and hands a body's bytes to the caller from there: a small body as
 * one buffer of its own, a large one chunk by chunk, each chunk valid only for the call that
 * receives it.
 *
 * What it speaks: a GET with the caller's headers; a response with a status line, headers, and a
 * body framed by Content-Length, chunked transfer coding, or the end of the connection; interim
 * (1xx) responses skipped; `Connection: close` honoured. HTTPS goes through node:tls (its chunks
 * are copied the same way). A request on a kept-alive socket that the server closed fails with
 * ECONNRESET, which the caller's retry covers.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Receives a body's bytes; a returned promise pauses the socket until it settles. */
export type Sink = (chunk: Buffer) => void | Promise<void>;

export interface GetResponse {
  readonly status: number;
  /** Header names in lower case; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Every byte of the body to `sink`, in order. A chunk is valid only during its call. */
  consume(sink: Sink): Promise<void>;
  /** The whole body, in a buffer of its own. */
  bytes(): Promise<Buffer>;
  text(): Promise<string>;
}

const READ_BUFFER = 256 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

/** A Buffer that owns its whole ArrayBuffer (not a slice of a pool), with `src` copied in. */
function ownCopy(src: Uint8Array): Buffer {
  const b = Buffer.allocUnsafeSlow(src.length);
  b.set(src);
  return b;
}

function parseHead(text: string): { status: number; headers: Record<string, string>; close: boolean } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
  if (!m)
    throw withCode(`malformed HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`, 'EPROTO');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const connection = (headers.connection ?? '').toLowerCase();
  const close = connection.includes('close') || (m[1] === '0' && !connection.includes('keep-alive'));
  return { status: Number(m[2]), headers, close };
}

type Framing =
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; remaining: number; line: string }
  | { kind: 'close' };

/** One request's response, fed by its connection. */
class Response implements GetResponse {
  private early: Buffer[] = [];
  private sink: Sink | undefined;
  private ended = false;
  private failure: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    private readonly conn: Connection,
  ) {}

  /** Whether someone takes the body's bytes as they come (else they are copied and kept). */
  get reading(): boolean {
    return this.sink !== undefined || this.failure !== undefined;
  }

  /** Bytes of the body from the connection's read buffer (copied if nobody is reading yet). */
  deliver(chunk: Buffer): void {
    if (this.failure) return;
    if (!this.sink) {
      this.early.push(ownCopy(chunk));
      return;
    }
    let r: void | Promise<void>;
    try {
      r = this.sink(chunk);
    } catch (err) {
      this.fail(err as Error);
      this.conn.destroy(err as Error);
      return;
    }
    if (r) {
      this.conn.pause();
      r.then(
        () => this.conn.resume(),
        (err: Error) => {
          this.fail(err);
          this.conn.destroy(err);
        },
      );
    }
  }

  end(): void {
    this.ended = true;
    if (this.sink && !this.failure) this.settle?.resolve();
  }

  fail(err: Error): void {
    if (this.ended || this.failure) return;
    this.failure = err;
    this.settle?.reject(err);
  }

  consume(sink: Sink): Promise<void> {
    if (this.sink) return Promise.reject(new Error('a response body can be read once'));
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      const early = this.early;
      this.early = [];
      const run = async () => {
        for (const c of early) await sink(c);
        if (this.failure) return reject(this.failure);
        this.sink = sink;
        if (this.ended) resolve();
        else this.conn.resume();
      };
      run().catch((err: Error) => {
        this.fail(err);
        this.conn.destroy(err);
      });
    });
  }

  async bytes(): Promise<Buffer> {
    // A small body has usually arrived whole with the headers: hand over that copy as it is.
    if (this.ended && !this.sink && !this.failure) {
      if (this.early.length === 1) return this.early[0] as Buffer;
      if (this.early.length === 0) return Buffer.alloc(0);
    }
    const length = Number(this.headers['content-length']);
    if (Number.isSafeInteger(length) && length >= 0 && !this.headers['transfer-encoding']) {
      const out = Buffer.allocUnsafeSlow(length);
      let at = 0;
      await this.consume((c) => {
        if (at + c.length > length) throw withCode('response body longer than its Content-Length', 'EPROTO');
        out.set(c, at);
        at += c.length;
      });
      if (at !== length) throw withCode('response body shorter than its Content-Length', 'ECONNRESET');
      return out;
    }
    const parts: Buffer[] = [];
    await this.consume((c) => {
      parts.push(Buffer.from(c));
    });
    return ownCopy(Buffer.concat(parts));
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }
}

/** One socket: requests one at a time, the response parsed as its bytes arrive. */
class Connection {
  private readonly socket: net.Socket;
  private head: Buffer[] = [];
  private headBytes = 0;
  private framing: Framing | undefined;
  private response: Response | undefined;
  private waiting: { resolve: (r: Response) => void; reject: (e: Error) => void } | undefined;
  private closeAfter = false;
  private paused = false;
  dead = false;

  constructor(
    base: URL,
    private readonly release: (c: Connection) => void,
    private readonly forget: (c: Connection) => void,
  ) {
    const port = Number(base.port) || (base.protocol === 'https:' ? 443 : 80);
    if (base.protocol === 'https:') {
      this.socket = tls.connect({ host: base.hostname, port, servername: base.hostname });
      this.socket.on('data', (d: Buffer) => this.onBytes(d));
    } else {
      const buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
      this.socket = net.connect({
        host: base.hostname,
        port,
        onread: {
          buffer,
          callback: (n: number, buf: Uint8Array) => {
            this.onBytes(buf.subarray(0, n) as Buffer);
            return true; // pausing is pause()'s business
          },
        },
      });
    }
    this.socket.setNoDelay(true);
    this.socket.setTimeout(60_000, () => this.destroy(withCode('request timed out', 'ETIMEDOUT')));
    this.socket.on('error', (err) => this.destroy(err));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.destroy(withCode('socket closed', 'ECONNRESET')));
  }

  send(request: string): Promise<Response> {
    this.socket.ref();
    return new Promise<Response>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.head = [];
      this.headBytes = 0;
      this.framing = undefined;
      this.response = undefined;
      this.socket.write(request, 'latin1');
    });
  }

  pause(): void {
    if (!this.paused) this.socket.pause();
    this.paused = true;
  }

  resume(): void {
    if (this.paused) this.socket.resume();
    this.paused = false;
  }

  idle(): void {
    this.socket.unref();
  }

  destroy(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.forget(this);
    this.waiting?.reject(err);
    this.waiting = undefined;
    this.response?.fail(err);
    this.response = undefined;
    this.socket.destroy();
  }

  private onEnd(): void {
    // The server closed its side: the end of a body framed by the connection, else a drop.
    if (this.response && this.framing?.kind === 'close') this.finish();
    this.destroy(withCode('connection closed by the server', 'ECONNRESET'));
  }

  private onBytes(data: Buffer): void {
    try {
      let at = 0;
      while (at < data.length && !this.dead) {
        if (!this.framing) at = this.readHead(data, at);
        else at = this.readBody(data, at);
      }
      // A body nobody reads yet waits in the socket, not in memory.
      if (this.response && !this.response.reading) this.pause();
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  /** Bytes of a status line and headers; returns where the body starts (or data.length). */
  private readHead(data: Buffer, at: number): number {
    if (!this.waiting) throw withCode('bytes from the server with no request in flight', 'EPROTO');
    // The end of the head may straddle reads: search from a few bytes back.
    const carry = Math.min(3, this.headBytes);
    const prev = carry ? (Buffer.concat(this.head).subarray(this.headBytes - carry) as Buffer) : undefined;
    const window = prev ? Buffer.concat([prev, data.subarray(at)]) : data.subarray(at);
    const found = window.indexOf(CRLF2);
    if (found === -1) {
      this.head.push(ownCopy(data.subarray(at)));
      this.headBytes += data.length - at;
      if (this.headBytes > MAX_HEADER_BYTES) throw withCode('response headers too large', 'EPROTO');
      return data.length;
    }
    const endInData = at + found - carry + 4;
    const headText = Buffer.concat([...this.head, data.subarray(at, endInData)]).toString('latin1');
    this.head = [];
    this.headBytes = 0;
    const { status, headers, close } = parseHead(headText.slice(0, -4));
    if (status >= 100 && status < 200) return endInData; // interim: the real response follows
    this.closeAfter = close;
    const te = (headers['transfer-encoding'] ?? '').toLowerCase();
    const length = headers['content-length'];
    if (status === 204 || status === 304) this.framing = { kind: 'length', remaining: 0 };
    else if (te.includes('chunked'))
      this.framing = { kind: 'chunked', state: 'size', remaining: 0, line: '' };
    else if (length !== undefined) {
      const n = Number(length);
      if (!Number.isSafeInteger(n) || n < 0) throw withCode(`bad Content-Length: ${length}`, 'EPROTO');
      this.framing = { kind: 'length', remaining: n };
    } else {
      this.framing = { kind: 'close' };
      this.closeAfter = true;
    }
    const response = new Response(status, headers, this);
    this.response = response;
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(response);
    if (this.framing.kind === 'length' && this.framing.remaining === 0) this.finish();
    return endInData;
  }

  private readBody(data: Buffer, at: number): number {
    const f = this.framing as Framing;
    const response = this.response;
    if (!response) throw withCode('bytes from the server after its response ended', 'EPROTO');
    if (f.kind === 'close') {
      response.deliver(data.subarray(at));
      return data.length;
    }
    if (f.kind === 'length') {
      const n = Math.min(f.remaining, data.length - at);
      response.deliver(data.subarray(at, at + n));
      f.remaining -= n;
      if (f.remaining === 0) this.finish();
      return at + n;
    }
    // chunked
    if (f.state === 'data') {
      const n = Math.min(f.remaining, data.length - at);
      if (n > 0) response.deliver(data.subarray(at, at + n));
      f.remaining -= n;
      if (f.remaining === 0) f.state = 'data-end';
      return at + n;
    }
    // A line: a chunk's size, the CRLF after its data, or a trailer line.
    const nl = data.indexOf(10, at);
    const end = nl === -1 ? data.length : nl + 1;
    f.line += data.toString('latin1', at, end);
    if (f.line.length > 8192) throw withCode('chunked encoding line too long', 'EPROTO');
    if (nl === -1) return end;
    const line = f.line.replace(/\r?\n$/, '');
    f.line = '';
    if (f.state === 'data-end') {
      if (line !== '') throw withCode('malformed chunked encoding', 'EPROTO');
      f.state = 'size';
    } else if (f.state === 'size') {
      const size = Number.parseInt(line.split(';')[0]?.trim() ?? '', 16);
      if (!Number.isSafeInteger(size) || size < 0) throw withCode('malformed chunk size', 'EPROTO');
      if (size === 0) f.state = 'trailer';
      else {
        f.state = 'data';
        f.remaining = size;
      }
    } else if (line === '') this.finish(); // the blank line after the trailers
    return end;
  }

  /** The response is complete: the socket goes back to the pool, or closes. */
  private finish(): void {
    const response = this.response;
    this.response = undefined;
    this.framing = undefined;
    this.resume();
    if (this.closeAfter) {
      response?.end();
      this.destroy(withCode('connection closed after its response', 'ECONNRESET'));
      return;
    }
    this.release(this);
    response?.end();
  }
}

/** GETs to one origin over at most `maxSockets` keep-alive connections. */
export class HttpGetClient {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: {
    request: string;
    resolve: (r: GetResponse) => void;
    reject: (e: Error) => void;
  }[] = [];
  private closed = false;

  constructor(
    readonly base: URL,
    private readonly maxSockets = 64,
  ) {}

  /** GET `target` (path and query, already encoded) with these headers (the Host header included). */
  get(target: string, headers: Readonly<Record<string, string>>): Promise<GetResponse> {
    if (this.closed) return Promise.reject(new Error('HTTP client closed'));
    let request = `GET ${target} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v))
        return Promise.reject(new Error(`header ${k} holds a line break`));
      request += `${k}: ${v}\r\n`;
    }
    request += '\r\n';
    return new Promise<GetResponse>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let conn = this.idle.pop();
      while (conn?.dead) conn = this.idle.pop();
      if (!conn) {
        if (this.all.size >= this.maxSockets) return;
        conn = new Connection(
          this.base,
          (c) => this.giveBack(c),
          (c) => this.drop(c),
        );
        this.all.add(conn);
      }
      const job = this.queue.shift() as (typeof this.queue)[number];
      conn.send(job.request).then(job.resolve, job.reject);
    }
  }

  private giveBack(c: Connection): void {
    if (this.closed) {
      c.destroy(new Error('HTTP client closed'));
      return;
    }
    c.idle();
    this.idle.push(c);
    // Next turn: the response's reader runs first, and a queued request takes this socket after.
    if (this.queue.length > 0) queueMicrotask(() => this.pump());
  }

  private drop(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.queue.length > 0 && !this.closed) queueMicrotask(() => this.pump());
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.all]) c.destroy(new Error('HTTP client closed'));
    for (const q of this.queue.splice(0)) q.reject(new Error('HTTP client closed'));
  }
}
