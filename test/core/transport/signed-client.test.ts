/**
 * Flotilla's own signed requests (the ports' per-job and per-object calls) on the wire: session
 * tokens and their refresh, and replies a hand-written HTTP client would get wrong (chunk sizes
 * that are not hex, a reply framed two ways, a Content-Length far beyond what arrives).
 */
import { connect, createServer, type Socket } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { clientConfig, s3Client } from '../../../core/aws.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

/** A TCP front for `port` that keeps the head of every request passing through. */
async function recordingFront(port: number) {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(socket).add(upstream);
    socket.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      if (/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(text)) heads.push(text.split('\r\n\r\n')[0] ?? '');
    });
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    heads,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

describe('temporary credentials', () => {
  it('sends the session token, and a fresh one once the old credentials expire, on queue and bucket calls', async () => {
    const d = await freshDeployment(emu);
    const front = await recordingFront(Number(new URL(emu.endpoint).port));
    let issued = 0;
    // Credentials that expire at once: the SDK's chain asks for new ones before each use.
    const credentials = async () => ({
      accessKeyId: 'ASIATEST',
      secretAccessKey: 'secret',
      sessionToken: `token-${++issued}`,
      expiration: new Date(Date.now() + 1_000),
    });
    const cfg = { endpoint: front.endpoint, region: 'us-east-1' };
    const sqs = new SQSClient({ ...clientConfig(cfg), credentials });
    const s3 = new S3Client({ ...clientConfig(cfg), forcePathStyle: true, credentials });
    try {
      const queue = new SqsQueue(sqs, d.queueUrl);
      const store = new S3Store(s3, d.bucket);
      await queue.send({ body: 'one' });
      await queue.send({ body: 'two' });
      await store.put('k', 'v');
      expect((await store.get('k')).toString()).toBe('v');
      const tokens = front.heads.map((h) => /x-amz-security-token: (\S+)/i.exec(h)?.[1]);
      expect(tokens.every((t) => t?.startsWith('token-'))).toBe(true);
      expect(new Set(tokens).size).toBeGreaterThanOrEqual(4);
      for (const h of front.heads)
        expect(h).toMatch(/authorization: AWS4-HMAC-SHA256 Credential=ASIATEST\//i);
    } finally {
      sqs.destroy();
      s3.destroy();
      await front.close();
    }
  });
});

/** A server that answers every request with `reply`, and counts requests and bytes it was sent. */
async function scripted(reply: (socket: Socket) => void) {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      if (d.toString('latin1').includes('\r\n\r\n')) {
        requests++;
        reply(socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const client = s3Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  return {
    store: new S3Store(client, 'bucket'),
    requests: () => requests,
    async close() {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('replies a careless HTTP client would misread', () => {
  it('fails a chunked body whose chunk size is not plain hex, instead of reading it', async () => {
    for (const size of ['0x3', '+3', '3g']) {
      const srv = await scripted((s) =>
        s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nabc\r\n0\r\n\r\n`),
      );
      try {
        const got = await srv.store.get('k').then(
          (b) => b.toString(),
          (e: Error) => e,
        );
        expect(got, size).toBeInstanceOf(Error);
      } finally {
        await srv.close();
      }
    }
  });

  it('fails a reply framed by both Transfer-Encoding and Content-Length', async () => {
    const srv = await scripted((s) =>
      s.write(
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      ),
    );
    try {
      await expect(srv.store.get('k')).rejects.toThrow();
    } finally {
      await srv.close();
    }
  });

  it('fails a body cut short of its Content-Length without reserving what the server claimed', async () => {
    const srv = await scripted((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\nabc');
      setTimeout(() => s.destroy(), 20);
    });
    const before = process.memoryUsage().arrayBuffers;
    try {
      await expect(srv.store.get('k')).rejects.toThrow();
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await srv.close();
    }
  });
});
