/**
 * What every command says when the endpoint answers something that is not S3 or SQS: an HTML
 * page (a proxy's, or an emulator router's 404 for a key it cannot route), an empty 502, a
 * redirect. Run through the CLI, as a user does: one line naming the status, the operation and
 * the key or queue, with a hint; exit 1; --debug adds the SDK's own error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDeployment } from '../../scripts/sync/export.js';
import { flotilla } from '../support/cli.js';
import { freshDeployment } from '../support/deployment.js';
import { type Emulator, startEmbedded } from '../support/emulators.js';

const PAGE = '<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></html>';

type Answer = (req: IncomingMessage, res: ServerResponse) => boolean;

/** An HTTP server that answers with `answer`, or forwards to `upstream` when it declines. */
async function endpoint(answer: Answer, upstream?: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (answer(req, res) || !upstream) {
      req.resume();
      return;
    }
    const to = new URL(upstream);
    const fwd = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const html404: Answer = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
  res.end(PAGE);
  return true;
};
const empty502: Answer = (_req, res) => {
  res.writeHead(502);
  res.end();
  return true;
};
const redirect301: Answer = (_req, res) => {
  res.writeHead(301, { location: 'https://elsewhere.example/' });
  res.end();
  return true;
};

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});
async function serve(answer: Answer, upstream?: string): Promise<string> {
  const e = await endpoint(answer, upstream);
  servers.push(e.server);
  return e.url;
}

describe('a non-AWS answer from the endpoint', () => {
  let source: Emulator;
  let dir: string;

  beforeAll(async () => {
    source = await startEmbedded();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-answer-'));
    const dep = await freshDeployment(source);
    await dep.store.put('plain.txt', 'fine');
    await dep.store.put('hostile/new\nline.txt', 'a key with a newline');
    await exportDeployment({
      source: { endpoint: source.config, sqs: source.sqs, s3: source.s3 },
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      progress: { write: () => true } as unknown as NodeJS.WritableStream,
      quiet: true,
    });
  });
  afterAll(async () => {
    await source?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('restore names the status, the operation and the key an HTML 404 refused, and restores the rest', async () => {
    const target = await startEmbedded();
    try {
      // In front of a working endpoint, a router that cannot route a key with a newline in it.
      const url = await serve(
        (req, res) => req.url?.includes('%0A') === true && html404(req, res),
        target.endpoint,
      );
      const r = await flotilla(['restore', '--from', dir, '--endpoint', url]);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/XML parse error|Deserialization error|\$response/);
      // restore goes on with the other objects and names the one that failed, on one line.
      expect(r.stderr).toMatch(
        /^failed: "hostile\/new\\nline\.txt": the endpoint answered 404 text\/html for PutObject \(PUT \/[^ ]*\/hostile\/new%0Aline\.txt\): it may not support this key$/m,
      );
      expect(r.stderr).toMatch(/^restored 1 objects/m);
    } finally {
      await target.stop();
    }
  });

  it('submit reports an empty 502 with the bucket it was reading, after the retries', async () => {
    const url = await serve(empty502);
    const queueUrl = `${url}/000000000000/jobs`;
    const r = await flotilla([
      'submit',
      'pi',
      '--payload',
      '{}',
      '--endpoint',
      url,
      '--queue-url',
      queueUrl,
      '--bucket',
      'b',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^flotilla submit: the endpoint answered 502 with no body for ListObjectsV2 \(GET \/b\/\): the service or a proxy in front of it failed; try again, or read its logs$/,
    );
  });

  it('restore reports a redirect with where it points', async () => {
    const url = await serve(redirect301);
    const r = await flotilla(['restore', '--from', dir, '--endpoint', url]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^flotilla restore: the endpoint answered 301 with no body for \w+ \(\w+ [^)]+\): it redirects to https:\/\/elsewhere\.example\/; give --endpoint the final address \(or the bucket's region\)$/,
    );
  });

  it('an HTML page on an SQS call names the queue; --debug adds the SDK error it replaces', async () => {
    const url = await serve(html404);
    const queueUrl = `${url}/000000000000/jobs`;
    const args = ['dlq', 'list', '--endpoint', url, '--queue-url', queueUrl, '--bucket', 'b'];
    const plain = await flotilla(args);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim()).toMatch(
      new RegExp(
        `^flotilla dlq: the endpoint answered 404 text/html for \\w+ \\(POST ${queueUrl}\\): it may not be an S3/SQS endpoint or not support this operation; check --endpoint$`,
      ),
    );
    const debug = await flotilla([...args, '--debug']);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toContain('EndpointAnswerError');
    expect(debug.stderr).toMatch(/not valid JSON/);
  });
});
