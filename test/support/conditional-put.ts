/**
 * An HTTP shim in front of fauxqs that answers a conditional write the way S3 does: a PUT with
 * `If-None-Match: *` on a key that exists, or with `If-Match: ETAG` on a key whose object has
 * another ETag (or none), gets 412 PreconditionFailed. fauxqs ignores both headers and overwrites, so without this a test could not tell a result written once
 * from one written twice by two workers. Everything else passes through unchanged; conditional
 * PUTs of one key are taken one at a time, as S3 decides a race between them. Only tests use it:
 * the product sends the header and trusts the store.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, NotFound, type S3Client } from '@aws-sdk/client-s3';

export interface ConditionalPutShim {
  /** http://127.0.0.1:<port>: point S3 clients here (path-style, as the runtime does for an endpoint). */
  readonly endpoint: string;
  /** Conditional PUTs refused with 412 so far. */
  readonly refused: number;
  close(): Promise<void>;
}

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
  '<Message>At least one of the pre-conditions you specified did not hold</Message>' +
  '<Condition>If-None-Match</Condition></Error>';

/** Start the shim before `target` (the emulator's endpoint); `s3` reads the emulator directly. */
export async function startConditionalPutShim(target: string, s3: S3Client): Promise<ConditionalPutShim> {
  const upstream = new URL(target);
  let refused = 0;
  /** The last conditional PUT of each key, for the next one to wait on. */
  const tails = new Map<string, Promise<void>>();

  const forward = (req: IncomingMessage, res: ServerResponse, whenDone?: () => void) => {
    // The next conditional PUT of the key waits for this one to end, however it ends: answered,
    // or cut off on either side (a client that gave up and retried would otherwise wait forever).
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      whenDone?.();
    };
    res.on('close', done);
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', done);
        answer.on('close', done);
      },
    );
    up.on('error', (err) => {
      done();
      res.destroy(err);
    });
    req.pipe(up);
  };

  /** The object's ETag, or undefined when there is none. */
  const etagOf = async (bucket: string, key: string): Promise<string | undefined> => {
    try {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag ?? '';
    } catch (err) {
      if (
        err instanceof NotFound ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return undefined;
      throw err;
    }
  };
  const unquote = (etag: string) => etag.replace(/"/g, '');

  const server = createServer((req, res) => {
    const ifMatch = req.headers['if-match'];
    if (req.method !== 'PUT' || (req.headers['if-none-match'] !== '*' && ifMatch === undefined))
      return forward(req, res);
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://shim').pathname);
    const [, bucket = '', ...rest] = path.split('/');
    const key = rest.join('/');
    const id = `${bucket}/${key}`;
    const before = tails.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = before.then(() => mine);
    tails.set(id, tail);
    const finish = () => {
      release();
      if (tails.get(id) === tail) tails.delete(id);
    };
    // A client that goes away while this PUT waits its turn (a worker killed mid-request) frees
    // the key at once: forwarding its cut-off body would leave the emulator waiting for the rest,
    // and every later PUT of the key behind it.
    res.on('close', finish);
    before
      .then(async () => {
        if (res.destroyed) return undefined;
        const etag = await etagOf(bucket, key);
        // true: the write may go ahead.
        return ifMatch === undefined
          ? etag === undefined
          : etag !== undefined && unquote(etag) === unquote(ifMatch);
      })
      .then((allowed) => {
        if (allowed === undefined || res.destroyed) return finish();
        if (allowed) return forward(req, res, finish);
        refused++;
        req.resume();
        res.writeHead(412, { 'content-type': 'application/xml' }).end(PRECONDITION_FAILED);
        finish();
      })
      .catch((err: Error) => {
        finish();
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`shim: ${err.message}`);
      });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get refused() {
      return refused;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
