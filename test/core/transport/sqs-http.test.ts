/**
 * The worker's lean SQS calls over the wire, on fauxqs and on moto: receives return what the
 * SDK's ReceiveMessage returns, deletes remove exactly the messages named and report failures as
 * the SDK does,
 * a missing queue fails as a missing queue, and a body that does not match its MD5 is refused.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../../core/errors.js';
import type { SqsQueue } from '../../../core/ports.js';
import { HttpSqsQueue, workerQueue } from '../../../core/transport/sqs-http.js';
import { freshDeployment, queueDepth } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto } from '../../support/emulators.js';

for (const kind of ['fauxqs', 'moto'] as const) {
  describe(`workerQueue against ${kind}`, () => {
    let emu: Emulator;
    let dep: Awaited<ReturnType<typeof freshDeployment>>;
    let lean: HttpSqsQueue;

    beforeAll(async () => {
      emu = kind === 'fauxqs' ? await startEmbedded() : await startMoto();
      dep = await freshDeployment(emu, { visibilityTimeoutSeconds: 30 });
      const q = await workerQueue(emu.sqs, dep.queueUrl);
      if (!(q instanceof HttpSqsQueue)) throw new Error('expected the lean queue for a SigV4 endpoint');
      lean = q;
    }, 60_000);

    afterAll(async () => {
      lean?.close();
      await emu?.stop();
    });

    it('receives what ReceiveMessage returns, and deletes only the messages named', async () => {
      const bodies = ['{"a":1}', 'plain ünïcødé text', 'x'.repeat(3000)];
      await dep.queue.sendBatch(
        bodies.map((body, i) => ({ id: String(i), body, attributes: { n: String(i) } })),
      );
      const got = [];
      for (let i = 0; i < 10 && got.length < bodies.length; i++) {
        got.push(...(await lean.receive({ maxMessages: 10, waitTimeSeconds: 1 })));
      }
      expect(got.map((m) => m.body).sort()).toEqual([...bodies].sort());
      for (const m of got) {
        expect(m.receiveCount).toBe(1);
        expect(m.attributes.n).toBe(String(bodies.indexOf(m.body)));
        expect(m.sentAtMs).toBeGreaterThan(Date.now() - 60_000);
      }
      const keep = got.pop();
      const failed = await lean.deleteBatch([
        ...got.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })),
        { id: 'bogus', receiptHandle: 'not-a-receipt-handle' },
      ]);
      // What the SDK reports for the same handle (moto refuses it; fauxqs takes any handle).
      const sdk = await dep.queue.deleteBatch([{ id: 'bogus', receiptHandle: 'not-a-receipt-handle' }]);
      expect(failed.map((f) => [f.id, f.code])).toEqual(sdk.map((f) => [f.id, f.code]));
      if (kind === 'moto') expect(failed.map((f) => f.id)).toEqual(['bogus']);
      expect(await queueDepth(dep.queue)).toEqual({ visible: 0, inFlight: 1 });
      if (keep) await dep.queue.deleteBatch([{ id: 'k', receiptHandle: keep.receiptHandle }]);
    });

    it('leaves message attributes out when asked, as the worker asks', async () => {
      await dep.queue.send({ body: 'b', attributes: { n: '1' } });
      const [m] = await lean.receive({ maxMessages: 1, waitTimeSeconds: 2, messageAttributes: false });
      expect(m?.body).toBe('b');
      expect(m?.attributes).toEqual({});
      if (m) await lean.deleteBatch([{ id: '0', receiptHandle: m.receiptHandle }]);
    });

    it('fails a missing queue as a missing queue', async () => {
      const gone = await workerQueue(emu.sqs, `${dep.queueUrl}-gone`);
      const err = await gone.receive({ maxMessages: 1, waitTimeSeconds: 0 }).catch((e: unknown) => e);
      expect(classifyError(err)).toBe('missing');
      (gone as HttpSqsQueue).close();
    });
  });
}

describe('HttpSqsQueue against a server that corrupts a body', () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      res.end(
        JSON.stringify({
          Messages: [{ MessageId: 'm1', ReceiptHandle: 'r1', Body: 'tampered', MD5OfBody: '0'.repeat(32) }],
        }),
      );
    });
  });
  beforeAll(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses a message whose body does not match its MD5', async () => {
    const { port } = server.address() as AddressInfo;
    const endpoint = new URL(`http://127.0.0.1:${port}/`);
    const queue = new HttpSqsQueue(
      undefined as unknown as ConstructorParameters<typeof SqsQueue>[0],
      `${endpoint.origin}/000000000000/q`,
      endpoint,
      'us-east-1',
      async () => ({ accessKeyId: 'test', secretAccessKey: 'test' }),
    );
    await expect(queue.receive({ maxMessages: 1, waitTimeSeconds: 0 })).rejects.toThrow(
      /does not match its MD5/,
    );
    queue.close();
  });
});
