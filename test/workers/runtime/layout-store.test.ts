/**
 * ctx.store held to the bucket layout: the worker process on the embedded emulator refuses what
 * the worker's IAM role would not be granted, and names the prefix and the setting.
 */
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
  ) {
    return runWorkerProcess({
      endpoint: { endpoint: emu.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS },
      queueUrl: d.queueUrl,
      bucket: d.bucket,
      handlers,
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
