/**
 * The fault suite's conditional-PUT shim (conditional-put.ts) must not let a client that dies
 * mid-request hold up the key: a worker SIGKILLed while its result PUT waited its turn left
 * every later PUT of that key (the redelivered job's) waiting on the emulator for a minute, and
 * the crash fault test with it.
 */
import { request } from 'node:http';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConditionalPutShim, startConditionalPutShim } from './conditional-put.js';
import { type Emulator, startEmbedded, uniqueName } from './emulators.js';

let emu: Emulator;
let shim: ConditionalPutShim;
const bucket = uniqueName('shim');

beforeAll(async () => {
  emu = await startEmbedded();
  shim = await startConditionalPutShim(emu.endpoint, emu.s3);
  await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await shim?.close();
  await emu?.stop();
});

/** A conditional PUT through the shim that sends `sent` of `body` and leaves the rest to the caller. */
function conditionalPut(key: string, body: string) {
  const req = request(`${shim.endpoint}/${bucket}/${key}`, {
    method: 'PUT',
    headers: {
      'if-none-match': '*',
      'content-length': Buffer.byteLength(body),
      // The shim only forwards; fauxqs does not check signatures.
      authorization: 'AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/s3/aws4_request',
    },
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  status.catch(() => {});
  return { req, status };
}

describe('the conditional-PUT shim', () => {
  it('frees a key whose waiting PUT was cut off, so the next PUT of it is answered', async () => {
    const key = 'results/b1/j1.json';
    // A holds the key: its body is half sent.
    const a = conditionalPut(key, JSON.stringify({ first: true }));
    a.req.write('{"fir');
    await new Promise((r) => setTimeout(r, 200));
    // B waits behind A, and its client dies while it waits (a worker SIGKILLed mid-PUT); then
    // A's client dies too, so nothing was written and B's turn comes with B already gone.
    const b = conditionalPut(key, JSON.stringify({ second: true }));
    b.req.write('{');
    await new Promise((r) => setTimeout(r, 200));
    b.req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    a.req.destroy();
    // C, the redelivered job's PUT, comes after both: it is forwarded and written.
    const body = JSON.stringify({ third: true });
    const c = conditionalPut(key, body);
    c.req.end(body);
    expect(await c.status).toBe(200);
    const stored = await emu.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(JSON.parse(await stored.Body!.transformToString())).toEqual({ third: true });
    // And a PUT after it is refused as S3 refuses it: the key exists.
    const d = conditionalPut(key, body);
    d.req.end(body);
    expect(await d.status).toBe(412);
    expect(shim.refused).toBe(1);
  }, 20_000);
});
