/**
 * The export's HTTP/1.1 GET client against servers that answer byte by byte as scripted: bodies
 * framed by Content-Length, chunked coding and the end of the connection, responses split at
 * awkward places, interim responses, `Connection: close`, and drops mid-body. A user would notice
 * any of these as a corrupt or hung export.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpGetClient } from '../../../core/transport/http-get.js';

/** Large buffers compared by digest: vitest's deep equality takes seconds on megabytes. */
const digest = (b: Uint8Array | undefined) =>
  createHash('sha256')
    .update(b ?? new Uint8Array())
    .digest('hex');

/** A server that answers each request on a socket with the next reply from `script`. */
async function scripted(script: (req: string, socket: net.Socket, n: number) => void) {
  const sockets = new Set<net.Socket>();
  let n = 0;
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const req = buf.slice(0, end);
        buf = buf.slice(end + 4);
        script(req, socket, n++);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    base: new URL(`http://127.0.0.1:${port}/`),
    connections: () => connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Write `parts` one after another, a macrotask apart, so they arrive as separate reads. */
async function trickle(socket: net.Socket, parts: (string | Buffer)[]) {
  for (const p of parts) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HttpGetClient', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });
  const client = (base: URL, maxSockets = 4) => {
    const c = new HttpGetClient(base, maxSockets);
    cleanup.push(() => c.close());
    return c;
  };

  it('reads Content-Length bodies on one kept-alive socket, headers lower-cased', async () => {
    const bodies = [randomBytes(10), randomBytes(300_000), Buffer.alloc(0)];
    const srv = await scripted((req, socket, n) => {
      const body = bodies[n % 3] as Buffer;
      expect(req).toMatch(/^GET \/o\/\d HTTP\/1\.1\r\nhost: h\r\nx-a: 1/);
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nETag: "e${n}"\r\nX-Amz-Meta-A: 1\r\nX-Amz-Meta-A: 2\r\n\r\n`,
      );
      socket.write(body);
    });
    cleanup.push(srv.close);
    const c = client(srv.base, 1);
    for (let i = 0; i < 6; i++) {
      const r = await c.get(`/o/${i}`, { host: 'h', 'x-a': '1' });
      expect(r.status).toBe(200);
      expect(r.headers.etag).toBe(`"e${i}"`);
      expect(r.headers['x-amz-meta-a']).toBe('1, 2');
      expect(digest(await r.bytes())).toBe(digest(bodies[i % 3]));
    }
    expect(srv.connections()).toBe(1);
  });

  it('gives a streamed body to a sink chunk by chunk, pausing while the sink waits', async () => {
    const body = randomBytes(2_000_000);
    const srv = await scripted((_req, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    });
    cleanup.push(srv.close);
    const r = await client(srv.base).get('/big', { host: 'h' });
    const got: Buffer[] = [];
    let calls = 0;
    await r.consume((chunk) => {
      got.push(Buffer.from(chunk)); // a chunk is only valid during the call
      calls++;
      return calls % 3 === 0 ? new Promise((res) => setTimeout(res, 2)) : undefined;
    });
    expect(digest(Buffer.concat(got))).toBe(digest(body));
    expect(calls).toBeGreaterThan(1);
  });

  it('decodes chunked bodies, with extensions and trailers, split at every awkward place', async () => {
    const srv = await scripted((_req, socket) => {
      const wire =
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
      // One byte per write: the head's end, sizes and CRLFs all straddle reads.
      void trickle(socket, [...wire]);
    });
    cleanup.push(srv.close);
    const c = client(srv.base, 1);
    expect(await (await c.get('/a', { host: 'h' })).text()).toBe('hello 0123456789');
    // The socket is reused after a chunked body.
    expect(await (await c.get('/b', { host: 'h' })).text()).toBe('hello 0123456789');
    expect(srv.connections()).toBe(1);
  });

  it('skips an interim 100 response, and reads to the end of a body framed by the close', async () => {
    const srv = await scripted((_req, socket, n) => {
      if (n === 0)
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else void trickle(socket, ['HTTP/1.0 200 OK\r\n\r\nuntil', ' the end']).then(() => socket.end());
    });
    cleanup.push(srv.close);
    const c = client(srv.base, 1);
    expect(await (await c.get('/a', { host: 'h' })).text()).toBe('ok');
    expect(await (await c.get('/b', { host: 'h' })).text()).toBe('until the end');
  });

  it('opens a new socket after Connection: close', async () => {
    const srv = await scripted((_req, socket) => {
      socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx');
    });
    cleanup.push(srv.close);
    const c = client(srv.base, 1);
    for (let i = 0; i < 3; i++) expect(await (await c.get('/x', { host: 'h' })).text()).toBe('x');
    expect(srv.connections()).toBe(3);
  });

  it('fails a body cut short with ECONNRESET, and a refused connection with ECONNREFUSED', async () => {
    const srv = await scripted((_req, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part');
      setTimeout(() => socket.destroy(), 10);
    });
    cleanup.push(srv.close);
    const r = await client(srv.base).get('/cut', { host: 'h' });
    await expect(r.bytes()).rejects.toMatchObject({ code: 'ECONNRESET' });

    const dead = await scripted(() => {});
    await dead.close();
    await expect(client(dead.base).get('/x', { host: 'h' })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('refuses a malformed status line and a header with a line break', async () => {
    const srv = await scripted((_req, socket) => socket.write('SMTP ready\r\n\r\n'));
    cleanup.push(srv.close);
    const c = client(srv.base);
    await expect(c.get('/x', { host: 'h' })).rejects.toMatchObject({ code: 'EPROTO' });
    await expect(c.get('/x', { host: 'h', 'x-evil': 'a\r\nx-injected: 1' })).rejects.toThrow(/line break/);
  });

  it('runs at most maxSockets requests at once and queues the rest', async () => {
    let open = 0;
    let most = 0;
    const srv = await scripted((_req, socket) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny');
      }, 5);
    });
    cleanup.push(srv.close);
    const c = client(srv.base, 3);
    const texts = await Promise.all(
      Array.from({ length: 12 }, async () => (await c.get('/q', { host: 'h' })).text()),
    );
    expect(texts).toEqual(Array(12).fill('y'));
    expect(most).toBe(3);
    expect(srv.connections()).toBe(3);
  });
});

describe('HttpGetClient over TLS', () => {
  // A throwaway self-signed certificate for localhost and 127.0.0.1 (test-only.key is its key).
  const TLS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'tls');
  const ROOT = join(TLS_DIR, '..', '..', '..', '..');

  /** GETs from a child process, as the CLI would make them, with the given extra CA (or none). */
  async function getFromChild(base: string, extraCa: string | undefined) {
    const script = `
      import { createHash } from 'node:crypto';
      import { HttpGetClient } from ${JSON.stringify(join(ROOT, 'core/transport/http-get.ts'))};
      const c = new HttpGetClient(new URL(${JSON.stringify(base)}), 4);
      try {
        const out = [];
        for (const p of ['/small', '/big']) {
          const r = await c.get(p, { host: new URL(${JSON.stringify(base)}).host });
          out.push(createHash('sha256').update(await r.bytes()).digest('hex'));
        }
        console.log(JSON.stringify({ ok: out }));
      } catch (e) {
        console.log(JSON.stringify({ error: e.code ?? e.message }));
      } finally {
        c.close();
      }`;
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    if (extraCa) env.NODE_EXTRA_CA_CERTS = extraCa;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    await new Promise((r) => child.once('exit', r));
    return JSON.parse(stdout.trim().split('\n').pop() || '{}') as { ok?: string[]; error?: string };
  }

  it('reads bodies over HTTPS, and refuses a certificate it cannot verify', async () => {
    const small = randomBytes(10_000);
    const big = randomBytes(3_000_000);
    const server = https.createServer(
      {
        key: readFileSync(join(TLS_DIR, 'test-only.key')),
        cert: readFileSync(join(TLS_DIR, 'test-only.crt')),
      },
      (req, res) => {
        const body = req.url === '/big' ? big : small;
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `https://localhost:${(server.address() as net.AddressInfo).port}/`;
      const trusted = await getFromChild(base, join(TLS_DIR, 'test-only.crt'));
      expect(trusted).toEqual({ ok: [digest(small), digest(big)] });
      const untrusted = await getFromChild(base, undefined);
      expect(untrusted.error).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    } finally {
      server.close();
    }
  });
});
