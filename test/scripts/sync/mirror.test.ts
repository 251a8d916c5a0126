/**
 * Mirror from fauxqs into moto_server (a second, independent implementation): objects and queue
 * definitions arrive, an unchanged re-run copies nothing, and deletes happen only when asked and
 * within --max-delete.
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import type { LiveSide } from '../../../scripts/sync/describe.js';
import { mirrorDeployment } from '../../../scripts/sync/mirror.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto } from '../../support/emulators.js';
import { type Seeded, seedObjects } from './fixtures.js';

const side = (e: Emulator): LiveSide => ({ endpoint: e.config, sqs: e.sqs, s3: e.s3 });
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

async function listKeys(store: S3Store): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list()) keys.push(o.key);
  return keys.sort();
}

describe('mirror fauxqs → moto', () => {
  let fauxqs: Emulator;
  let moto: Emulator;
  let dep: Awaited<ReturnType<typeof freshDeployment>>;
  let objects: Seeded[];
  let lines: string[];
  const out = {
    write: (s: string) => {
      lines.push(s);
      return true;
    },
  } as unknown as NodeJS.WritableStream;

  beforeAll(async () => {
    [fauxqs, moto] = await Promise.all([startEmbedded(), startMoto()]);
    dep = await freshDeployment(fauxqs, { visibilityTimeoutSeconds: 50, maxReceiveCount: 4 });
    objects = await seedObjects(dep.store, { largeBytes: 9 * 1024 * 1024 });
  });

  afterAll(async () => {
    await Promise.all([fauxqs?.stop(), moto?.stop()]);
  });

  const mirror = (opts: { dryRun?: boolean; delete?: boolean; maxDelete?: number } = {}) => {
    lines = [];
    return mirrorDeployment({
      source: side(fauxqs),
      target: side(moto),
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      progress: sink,
      out,
      quiet: true,
      ...opts,
    });
  };

  it('prints the plan on --dry-run and creates nothing at the target', async () => {
    const r = await mirror({ dryRun: true });
    expect(r.plan.map((p) => `${p.action} ${p.key}`).sort()).toEqual(
      objects.map((o) => `copy ${o.key}`).sort(),
    );
    expect(lines.join('')).toContain('copy   "small/hello.json"');
    await expect(moto.sqs.send(new GetQueueUrlCommand({ QueueName: `${dep.name}-jobs` }))).rejects.toThrow();
  });

  it('copies objects, metadata and queue definitions, then skips them all on a re-run', async () => {
    const first = await mirror();
    expect(first.failed).toEqual([]);
    expect(first.copied).toBe(objects.length);
    const store = new S3Store(moto.s3, dep.bucket);
    expect(await listKeys(store)).toEqual(objects.map((o) => o.key).sort());
    for (const o of objects) {
      const got = await store.read(o.key);
      const chunks: Buffer[] = [];
      for await (const c of got.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(o.body), o.key).toBe(true);
      expect(got.head.metadata).toMatchObject(o.metadata ?? {});
      expect(got.head.metadata['flotilla-source-etag']).toBeTruthy();
      if (o.contentType) expect(got.head.contentType).toBe(o.contentType);
    }
    const url = (await moto.sqs.send(new GetQueueUrlCommand({ QueueName: `${dep.name}-jobs` }))).QueueUrl;
    const attrs = (
      await moto.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))
    ).Attributes;
    expect(attrs?.VisibilityTimeout).toBe('50');
    expect(JSON.parse(attrs?.RedrivePolicy ?? '{}')).toMatchObject({
      maxReceiveCount: 4,
      deadLetterTargetArn: expect.stringContaining(`${dep.name}-jobs-dlq`),
    });

    const again = await mirror();
    expect(again.copied).toBe(0);
    expect(again.skipped).toBe(objects.length);

    await dep.store.put('small/hello.json', '{"hello":"changed"}', { contentType: 'application/json' });
    const changed = await mirror();
    expect(changed.copied).toBe(1);
    expect((await store.get('small/hello.json')).toString()).toBe('{"hello":"changed"}');
  });

  it('keeps objects deleted at the source unless --delete, and --max-delete stops a larger delete', async () => {
    const store = new S3Store(moto.s3, dep.bucket);
    await dep.store.deleteMany(['empty.txt', 'medium.bin', 'results/batch-1/job-1.json']);

    const kept = await mirror();
    expect(kept.deleted).toBe(0);
    expect(await listKeys(store)).toContain('medium.bin');

    const plan = await mirror({ dryRun: true, delete: true });
    expect(plan.plan.filter((p) => p.action === 'delete')).toHaveLength(3);
    expect(await listKeys(store)).toContain('medium.bin');

    const limited = await mirror({ delete: true, maxDelete: 2 });
    expect(limited.deleted).toBe(0);
    expect(limited.deleteRefused).toMatch(/exceed --max-delete 2/);
    expect(await listKeys(store)).toEqual(objects.map((o) => o.key).sort());

    const done = await mirror({ delete: true, maxDelete: 3 });
    expect(done.deleted).toBe(3);
    expect(await listKeys(store)).toEqual(['large/blob.bin', 'small/hello.json']);
  });
});

describe('mirror after a failed copy', () => {
  it('deletes nothing at the target in a run where a copy failed', async () => {
    const [a, b] = await Promise.all([startEmbedded(), startEmbedded()]);
    try {
      const src = await freshDeployment(a);
      await src.store.put('keep.txt', 'keep');
      await src.store.put('stale.txt', 'stale');
      const run = (opts: { multipartBytes?: number } = {}) =>
        mirrorDeployment({
          source: side(a),
          target: side(b),
          bucket: src.bucket,
          delete: true,
          progress: sink,
          out: sink,
          quiet: true,
          ...opts,
        });
      expect((await run()).copied).toBe(2);
      await src.store.delete('stale.txt');
      // fauxqs refuses a single PUT over 11 MiB: with multipart turned off, this copy fails.
      await src.store.upload('big.bin', Buffer.alloc(12 * 1024 * 1024, 1), {
        partSizeBytes: 6 * 1024 * 1024,
      });
      const failed = await run({ multipartBytes: 64 * 1024 * 1024 });
      expect(failed.failed.map((f) => f.key)).toEqual(['big.bin']);
      expect(failed.deleted).toBe(0);
      expect(failed.deleteRefused).toMatch(/this run had 1 error/);
      expect(await listKeys(new S3Store(b.s3, src.bucket))).toEqual(['keep.txt', 'stale.txt']);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
