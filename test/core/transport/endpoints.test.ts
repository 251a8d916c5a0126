/**
 * The transport on the endpoints users run: an emulator on IPv6 loopback, an emulator behind TLS
 * with its own certificate authority (AWS_CA_BUNDLE), and an emulator reached through an HTTP
 * proxy (HTTPS_PROXY / HTTP_PROXY). Through each, the bundled worker runs a job to its result and
 * `flotilla export` backs the bucket up, configured by the environment alone, as a user runs them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { EMULATOR_CREDENTIALS, s3Client, sqsClient } from '../../../core/aws.js';
import { resultKey } from '../../../core/envelope.js';
import { buildWorker } from '../../../scripts/build-worker.js';
import { flotilla } from '../../support/cli.js';
import { eventually, freshDeployment } from '../../support/deployment.js';
import type { Emulator } from '../../support/emulators.js';
import { logLines, spawnWorker } from '../../support/fault-helpers.js';

const TLS_DIR = join(import.meta.dirname, 'tls');
const CA = join(TLS_DIR, 'test-only.crt');

let dir: string;
let bundle: string;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-endpoints-'));
  bundle = (await buildWorker(join(dir, 'worker.js'))).outfile;
}, 60_000);
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

/** fauxqs (which listens on IPv4 only) in-process, with clients at its endpoint. */
async function fauxqs(): Promise<Emulator & { port: number }> {
  const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const config = { endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
  const emu = {
    endpoint,
    port: server.port,
    config,
    sqs: sqsClient(config),
    s3: s3Client(config),
    async stop() {
      emu.sqs.destroy();
      emu.s3.destroy();
      await server.stop();
    },
  };
  closers.push(() => emu.stop());
  return emu;
}

/** A connection handler that pipes each connection to `port` on 127.0.0.1. */
const forwardTo = (port: number) => (socket: Socket) => {
  const upstream = connect(port, '127.0.0.1');
  socket.pipe(upstream).pipe(socket);
  socket.on('error', () => upstream.destroy());
  upstream.on('error', () => socket.destroy());
};

/** Forwards every connection on [::1] to `port` on 127.0.0.1: the emulator, on IPv6 loopback. */
async function ipv6Front(port: number): Promise<string> {
  const server = createTcpServer(forwardTo(port));
  await new Promise<void>((r) => server.listen(0, '::1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://[::1]:${(server.address() as { port: number }).port}`;
}

/** Forwards every connection on a TLS port (certificate: test-only.crt) to `port` on 127.0.0.1. */
async function tlsFront(port: number): Promise<string> {
  const server = createTlsServer(
    { key: readFileSync(join(TLS_DIR, 'test-only.key')), cert: readFileSync(CA) },
    forwardTo(port),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `https://localhost:${(server.address() as { port: number }).port}`;
}

/** An HTTP proxy that tunnels CONNECT requests and counts them; `seen` holds the tunnelled request heads. */
async function connectProxy(): Promise<{ url: string; tunnels: () => number; seen: string[] }> {
  let tunnels = 0;
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels++;
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    const upstream = connect(Number(port), (host ?? '').replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      client.on('data', (d: Buffer) => seen.push(d.toString('latin1').split('\r\n\r\n')[0] ?? ''));
      client.pipe(upstream).pipe(client);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    tunnels: () => tunnels,
    seen,
  };
}

/**
 * A job through the bundled worker, then the bucket through `flotilla export`, both configured
 * by `env` (which names the endpoint the way under test); `emu` provisions and checks directly.
 */
async function workerAndExport(emu: Emulator, env: Record<string, string>) {
  const d = await freshDeployment(emu);
  const batch = await new Submitter({ queue: d.queue, store: d.store }).submit(
    'echo',
    { hello: 'v6' },
    { id: 'j1' },
  );
  const w = spawnWorker(bundle, {
    ...env,
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
    FLOTILLA_WAIT_SECONDS: '1',
  });
  try {
    const result = await eventually(() => d.store.head(resultKey(batch.batch, 'j1')), 30_000).catch(
      () => undefined,
    );
    expect(result, JSON.stringify(logLines(w, '').slice(-5)) + w.stderr).toBeDefined();
  } finally {
    w.child.kill('SIGTERM');
    await w.exit;
  }
  const to = join(dir, d.bucket);
  const r = await flotilla(
    ['export', '--to', to, '--bucket', d.bucket, '--queue-url', d.queueUrl, '--quiet'],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
  const key = resultKey(batch.batch, 'j1');
  const file = readFileSync(join(to, 'objects', d.bucket, key));
  expect(createHash('sha256').update(file).digest('hex')).toBe(
    createHash('sha256')
      .update(await d.store.get(key))
      .digest('hex'),
  );
}

describe('an emulator on IPv6 loopback', () => {
  it('runs a job and exports the bucket at http://[::1]:PORT', async () => {
    const emu = await fauxqs();
    const endpoint = await ipv6Front(emu.port);
    await workerAndExport(emu, { AWS_ENDPOINT_URL: endpoint });
  }, 120_000);
});

describe('an emulator behind TLS with its own certificate authority', () => {
  it('runs a job and exports the bucket when AWS_CA_BUNDLE names the CA', async () => {
    const emu = await fauxqs();
    const endpoint = await tlsFront(emu.port);
    await workerAndExport(emu, { AWS_ENDPOINT_URL: endpoint, AWS_CA_BUNDLE: CA });
  }, 120_000);

  it('refuses the endpoint, with one line naming the certificate, when nothing trusts the CA', async () => {
    const emu = await fauxqs();
    const endpoint = await tlsFront(emu.port);
    const d = await freshDeployment(emu);
    const r = await flotilla(
      ['export', '--to', join(dir, 'untrusted'), '--bucket', d.bucket, '--queue-url', d.queueUrl],
      {
        AWS_ENDPOINT_URL: endpoint,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i);
  }, 60_000);
});

describe('an emulator reached through an HTTP proxy', () => {
  it('runs a job and exports the bucket with every request through HTTP_PROXY', async () => {
    const emu = await fauxqs();
    const proxy = await connectProxy();
    await workerAndExport(emu, { AWS_ENDPOINT_URL: emu.endpoint, HTTP_PROXY: proxy.url });
    expect(proxy.tunnels()).toBeGreaterThan(0);
    // The worker's receive and result calls, and the export's listing and GETs, all went through it.
    const heads = proxy.seen.join('\n');
    expect(heads).toMatch(/x-amz-target: AmazonSQS\.ReceiveMessage/i);
    expect(heads).toMatch(/^PUT \/t-[^ ]+\/results\//m);
    expect(heads).toMatch(/^GET \/t-[^ ]+\?.*list-type=2/m);
  }, 120_000);

  it('runs a job and exports the bucket over TLS through HTTPS_PROXY', async () => {
    const emu = await fauxqs();
    const endpoint = await tlsFront(emu.port);
    const proxy = await connectProxy();
    await workerAndExport(emu, { AWS_ENDPOINT_URL: endpoint, AWS_CA_BUNDLE: CA, HTTPS_PROXY: proxy.url });
    expect(proxy.tunnels()).toBeGreaterThan(0);
  }, 120_000);
});
