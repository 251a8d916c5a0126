/**
 * ctx.store held to the bucket layout: the worker process on the embedded emulator refuses what
 * the worker's IAM role would not be granted, and names the prefix and the setting.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_CREDENTIALS } from '../../../core/aws.js';
import { ENVELOPE_VERSION } from '../../../core/envelope.js';
import { DATA_LAYOUT, extendLayout, PREFIXES } from '../../../core/layout.js';
import { builtinHandlers } from '../../../workers/handlers/index.js';
import { HandlerRegistry } from '../../../workers/handlers/registry.js';
import { LayoutStore, LayoutViolationError } from '../../../workers/runtime/layout-store.js';
import { silentLogger } from '../../../workers/runtime/logger.js';
import { runWorkerProcess } from '../../../workers/runtime/process.js';
import { eventually, freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

describe('LayoutStore', () => {
  it("refuses a key outside the worker's prefixes, naming the prefix and the cdk.json setting", async () => {
    const d = await freshDeployment(emu);
    const store = new LayoutStore(d.store);
    await d.store.put('inputs/a.txt', 'hello');
    expect((await store.get('inputs/a.txt')).toString()).toBe('hello');
    await expect(store.put('inputs/b.txt', 'x')).rejects.toThrow(
      /the worker may not write 'inputs\/b.txt': 'inputs\/' .* grants the worker read; .*add 'write' to storage.prefixes.'inputs\/'.worker in cdk.json/,
    );
    await expect(store.get('secrets/key')).rejects.toThrow(
      /no declared prefix holds 'secrets\/key'.*storage.prefixes.'secrets\/'.worker/,
    );
    await expect(store.delete('results/x.json')).rejects.toBeInstanceOf(LayoutViolationError);
    expect(() => store.list('')).toThrow(/may not list ''/);
    // Nothing refused reached the bucket.
    expect(await d.store.head('inputs/b.txt')).toBeUndefined();
  });

  it("grants what a deployment declares in cdk.json's storage setting", async () => {
    const d = await freshDeployment(emu);
    const layout = extendLayout(DATA_LAYOUT, { prefixes: { 'images/': { worker: ['write', 'list'] } } });
    const store = new LayoutStore(d.store, layout);
    expect(await store.put('images/cat.png', 'meow')).toBe(true);
    const listed = [];
    for await (const o of store.list('images/')) listed.push(o.key);
    expect(listed).toEqual(['images/cat.png']);
  });
});

describe('the worker process', () => {
  async function runUntil(
    d: Awaited<ReturnType<typeof freshDeployment>>,
    handlers: HandlerRegistry,
    handleSignals = false,
    layout = DATA_LAYOUT,
  ) {
    return runWorkerProcess({
      endpoint: { endpoint: emu.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS },
      queueUrl: d.queueUrl,
      bucket: d.bucket,
      handlers,
      layout,
      log: silentLogger,
      handleSignals,
      worker: { waitTimeSeconds: 1, concurrency: 2 },
    });
  }

  it('dead-letters a job whose handler writes outside the layout, with the refusal in its error record', async () => {
    const d = await freshDeployment(emu);
    const handlers = builtinHandlers().register({
      type: 'stray-write',
      async handler(_job, ctx) {
        await ctx.store.put('exports/out.json', '{}');
        return null;
      },
    });
    const env = { v: ENVELOPE_VERSION, type: 'stray-write', batch: 'b1', id: 'j1', payload: null };
    await d.queue.send({ body: JSON.stringify({ ...env, submittedAt: new Date().toISOString() }) });
    const done = runUntil(d, handlers, true);
    const record = await eventually(async () => {
      const head = await d.store.head(`${PREFIXES.errors}b1/j1.json`);
      return head ? JSON.parse((await d.store.get(head.key)).toString()) : undefined;
    }, 15_000);
    process.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(record.final).toBe(true);
    expect(record.error.name).toBe('LayoutViolationError');
    expect(record.error.message).toContain("storage.prefixes.'exports/'.worker");
    expect(await d.store.head('exports/out.json')).toBeUndefined();
  });

  it("reaches a bucket declared in cdk.json's storage.buckets through ctx.bucket, held to its grants", async () => {
    const d = await freshDeployment(emu);
    const lookup = `${d.bucket}-lookup`;
    await emu.s3.send(new CreateBucketCommand({ Bucket: lookup }));
    await d.store.forBucket(lookup).put('rates.json', '{"eur":0.9}');
    const layout = extendLayout(DATA_LAYOUT, { buckets: { [lookup]: { worker: ['read', 'list'] } } });
    const handlers = builtinHandlers()
      .register({
        type: 'convert',
        async handler(job: { payload: { usd: number } }, ctx) {
          const rates = JSON.parse((await ctx.bucket(lookup).get('rates.json')).toString());
          return { eur: job.payload.usd * rates.eur };
        },
      })
      .register({
        type: 'scribble',
        async handler(_job, ctx) {
          await ctx.bucket(lookup).put('rates.json', '{}');
          return null;
        },
      })
      .register({
        type: 'elsewhere',
        async handler(_job, ctx) {
          return (await ctx.bucket('someone-elses-bucket').get('x')).toString();
        },
      });
    const send = (type: string, id: string, payload: unknown) =>
      d.queue.send({
        body: JSON.stringify({
          v: ENVELOPE_VERSION,
          type,
          batch: 'b2',
          id,
          payload,
          submittedAt: new Date().toISOString(),
        }),
      });
    await send('convert', 'c1', { usd: 10 });
    await send('scribble', 's1', null);
    await send('elsewhere', 'e1', null);
    const done = runUntil(d, handlers, true, layout);
    const read = async (key: string) => {
      const head = await d.store.head(key);
      return head ? JSON.parse((await d.store.get(key)).toString()) : undefined;
    };
    const records = await eventually(async () => {
      const all = await Promise.all([
        read(`${PREFIXES.results}b2/c1.json`),
        read(`${PREFIXES.errors}b2/s1.json`),
        read(`${PREFIXES.errors}b2/e1.json`),
      ]);
      return all.every(Boolean) ? all : undefined;
    }, 15_000);
    const [result, scribbled, elsewhere] = records ?? [];
    process.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(result.result).toEqual({ eur: 9 });
    expect(scribbled.final).toBe(true);
    expect(scribbled.error.message).toContain(
      `the worker may not write 'rates.json': storage.buckets.'${lookup}' grants the worker read, list`,
    );
    expect(elsewhere.error.message).toContain("add 'read' to storage.buckets.'someone-elses-bucket'.worker");
    // The refused write never reached the bucket.
    expect((await d.store.forBucket(lookup).get('rates.json')).toString()).toBe('{"eur":0.9}');
  });

  it('refuses to start when a handler declares storage the layout does not grant', async () => {
    const d = await freshDeployment(emu);
    const handlers = new HandlerRegistry().register({
      type: 'thumbnails',
      storage: { reads: ['images/'] },
      async handler() {
        return null;
      },
    });
    await expect(runUntil(d, handlers)).rejects.toThrow(
      /handler 'thumbnails': the worker may not read 'images\/'.*storage.prefixes.'images\/'.worker/,
    );
  });
});
