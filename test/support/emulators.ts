/**
 * Real emulators for tests, on free loopback ports: fauxqs in-process (fast, SQS + S3) and
 * moto_server as a child process (slow, but a second implementation with CloudFormation).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { EMULATOR_CREDENTIALS, type EndpointConfig, s3Client, sqsClient } from '../../core/aws.js';

export interface Emulator {
  readonly endpoint: string;
  readonly config: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  stop(): Promise<void>;
}

function clients(endpoint: string, region = 'us-east-1') {
  const config: EndpointConfig = { endpoint, region, credentials: EMULATOR_CREDENTIALS };
  return { config, sqs: sqsClient(config), s3: s3Client(config) };
}

/** fauxqs in-process on a free port; `messageSpies` turns on its spy (the fault suite counts PUTs with it). */
export async function startEmbedded(
  options: Pick<NonNullable<Parameters<typeof startFauxqs>[0]>, 'messageSpies'> = {},
): Promise<Emulator & { server: FauxqsServer }> {
  const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1', ...options });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const c = clients(endpoint);
  return {
    server,
    endpoint,
    ...c,
    async stop() {
      c.sqs.destroy();
      c.s3.destroy();
      await server.stop();
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start moto_server (from the machine's Python) on a free port; resolves once it answers.
 * `command` replaces `moto_server` (a launcher that takes the same arguments).
 */
export async function startMoto(
  command: readonly string[] = ['moto_server'],
): Promise<Emulator & { process: ChildProcess }> {
  const port = await freePort();
  const [cmd = 'moto_server', ...pre] = command;
  const proc = spawn(cmd, [...pre, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`moto_server exited with ${proc.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`moto_server did not start within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const c = clients(endpoint);
  return {
    endpoint,
    process: proc,
    ...c,
    async stop() {
      c.sqs.destroy();
      c.s3.destroy();
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    },
  };
}

/** A name no other test uses, for queues and buckets: lowercase, S3-safe. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
