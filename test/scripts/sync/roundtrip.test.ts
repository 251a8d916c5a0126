/**
 * Export from one fauxqs, restore into a second, fresh one: keys, bytes, metadata and queue
 * attributes come back identical, hostile keys included; then incremental export and verify.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import type { LiveSide } from '../../../scripts/sync/describe.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { type Description, readManifest } from '../../../scripts/sync/folder.js';
import { restoreDeployment } from '../../../scripts/sync/restore.js';
import { verifyAgainst, verifyFolder } from '../../../scripts/sync/verify.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';
import { HOSTILE_KEYS, type Seeded, seedObjects } from './fixtures.js';

const side = (e: Emulator): LiveSide => ({ endpoint: e.config, sqs: e.sqs, s3: e.s3 });
const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const run = promisify(execFile);

describe('export → restore round trip between two emulators', () => {
  let sourceEmu: Emulator;
  let targetEmu: Emulator;
  let source: LiveSide;
  let target: LiveSide;
  let root: string;
  let dir: string;
  let dep: Awaited<ReturnType<typeof freshDeployment>>;
  let objects: Seeded[];
  const small = {
    largeObjectBytes: 4 * 1024 * 1024,
    partBytes: 2 * 1024 * 1024,
    quiet: true,
    progress: sink,
  };

  beforeAll(async () => {
    [sourceEmu, targetEmu] = await Promise.all([startEmbedded(), startEmbedded()]);
    [source, target] = [side(sourceEmu), side(targetEmu)];
    root = await mkdtemp(join(tmpdir(), 'flotilla-rt-'));
    dir = join(root, 'export');
    dep = await freshDeployment(sourceEmu, { visibilityTimeoutSeconds: 45, maxReceiveCount: 3 });
    objects = await seedObjects(dep.store, { largeBytes: 9 * 1024 * 1024, hostile: true });
    await dep.dlq.send({ body: '{"type":"failed-job"}', attributes: { reason: 'boom' } });
  });

  afterAll(async () => {
    await Promise.all([sourceEmu?.stop(), targetEmu?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  const exportOnce = (extra: { includeDlq?: boolean } = {}) =>
    exportDeployment({
      ...small,
      source,
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      ...extra,
    });

  it('exports every object as a file inside DIR, with manifest, SHA256SUMS and description', async () => {
    const r = await exportOnce({ includeDlq: true });
    expect(r.failed).toEqual([]);
    expect(r.transferred).toBe(objects.length);
    // Nothing was written beside DIR, whatever the keys said.
    expect(await readdir(root)).toEqual(['export']);
    const manifest = await readManifest(dir);
    expect(manifest.map((e) => e.key).sort()).toEqual(objects.map((o) => o.key).sort());
    for (const e of manifest) {
      expect(e.path.startsWith('objects/') || e.path.startsWith('escaped/')).toBe(true);
      const o = objects.find((x) => x.key === e.key)!;
      expect((await readFile(join(dir, e.path))).equals(o.body), e.key).toBe(true);
    }
    // Ordinary keys are readable as themselves.
    expect(manifest.find((e) => e.key === 'small/hello.json')?.path).toBe(
      `objects/${dep.bucket}/small/hello.json`,
    );
    const { stdout } = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(stdout.trim().split('\n')).toHaveLength(objects.length);

    const d = JSON.parse(await readFile(join(dir, 'flotilla.json'), 'utf8')) as Description;
    expect(d.state).toBe('complete');
    expect(d.formatVersion).toBe(1);
    const jobs = d.queues.find((q) => q.role === 'jobs');
    expect(jobs?.attributes.VisibilityTimeout).toBe('45');
    expect(JSON.parse(jobs?.attributes.RedrivePolicy ?? '{}').maxReceiveCount).toBe(3);
    const dlq = d.queues.find((q) => q.role === 'dlq');
    expect(dlq?.messages?.count).toBe(1);
    // Every job queue of the definitions, each with its DLQ, named as the deployment names it.
    expect(d.queues.map((q) => `${q.role} ${q.jobQueue}`)).toEqual([
      'jobs default',
      'dlq default',
      'jobs urgent',
      'dlq urgent',
      'jobs bulk',
      'dlq bulk',
    ]);
    // Read without removing: the DLQ still holds its message.
    const again = await new SqsQueue(source.sqs, dep.dlqUrl).receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(again.map((m) => m.body)).toEqual(['{"type":"failed-job"}']);
  });

  it('restores keys, bytes, metadata and queue attributes identically into a fresh emulator', async () => {
    const r = await restoreDeployment({
      target,
      dir,
      includeDlq: true,
      progress: sink,
      quiet: true,
      multipartBytes: 5 * 1024 * 1024,
    });
    expect(r.failed).toEqual([]);
    expect(r.uploaded).toBe(objects.length);
    const store = new S3Store(target.s3, dep.bucket);
    const keys: string[] = [];
    for await (const o of store.list()) keys.push(o.key);
    expect(keys.sort()).toEqual(objects.map((o) => o.key).sort());
    for (const o of objects) {
      const got = await store.read(o.key);
      const chunks: Buffer[] = [];
      for await (const c of got.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(o.body), o.key).toBe(true);
      expect(got.head.metadata).toEqual(o.metadata ?? {});
      if (o.contentType) expect(got.head.contentType).toBe(o.contentType);
    }
    for (const key of HOSTILE_KEYS) expect(keys).toContain(key);

    const attrs = async (emu: LiveSide, url: string): Promise<Record<string, string>> =>
      (await emu.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
        .Attributes ?? {};
    const jobsUrl = r.queueUrls.get(`${dep.name}-jobs`)!;
    const dlqUrl = r.queueUrls.get(`${dep.name}-jobs-dlq`)!;
    expect(r.queueUrls.get(`${dep.name}-jobs-urgent`)).toBeDefined();
    expect(r.queueUrls.get(`${dep.name}-jobs-bulk-dlq`)).toBeDefined();
    const [was, now] = [await attrs(source, dep.queueUrl), await attrs(target, jobsUrl)];
    for (const k of [
      'VisibilityTimeout',
      'MessageRetentionPeriod',
      'MaximumMessageSize',
      'ReceiveMessageWaitTimeSeconds',
      'DelaySeconds',
    ]) {
      expect(now[k], k).toBe(was[k]);
    }
    const policy = JSON.parse(now.RedrivePolicy ?? '{}');
    expect(policy.maxReceiveCount).toBe(3);
    expect(policy.deadLetterTargetArn).toBe((await attrs(target, dlqUrl)).QueueArn);
    const msgs = await new SqsQueue(target.sqs, dlqUrl).receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(msgs.map((m) => [m.body, m.attributes.reason])).toEqual([['{"type":"failed-job"}', 'boom']]);

    const v = await verifyAgainst({ dir, target, progress: sink, quiet: true });
    expect(v.findings.filter((f) => f.problem !== 'extra')).toEqual([]);
  });

  it('transfers nothing on a second export when nothing changed, and re-fetches a changed object', async () => {
    const same = await exportOnce();
    expect(same.transferred).toBe(0);
    expect(same.skipped).toBe(objects.length);

    await dep.store.put('small/hello.json', '{"hello":"again"}', { contentType: 'application/json' });
    const changed = await exportOnce();
    expect(changed.transferred).toBe(1);
    expect(changed.skipped).toBe(objects.length - 1);
    expect(await readFile(join(dir, 'objects', dep.bucket, 'small', 'hello.json'), 'utf8')).toBe(
      '{"hello":"again"}',
    );
  });

  it('moves a file whose key starts to clash, and drops objects gone from the source only with --delete', async () => {
    await dep.store.put('report', 'the file');
    await exportOnce();
    expect(await readFile(join(dir, 'objects', dep.bucket, 'report'), 'utf8')).toBe('the file');

    // A new key makes 'report' a folder: its file moves to the escaped path, nothing is refetched.
    await dep.store.put('report/part-1', 'a part');
    const moved = await exportOnce();
    expect(moved.transferred).toBe(1);
    expect(moved.relocated).toBe(1);
    const entry = (await readManifest(dir)).find((e) => e.key === 'report');
    expect(entry?.path).toMatch(/^escaped\//);
    expect(await readFile(join(dir, entry?.path ?? ''), 'utf8')).toBe('the file');
    expect(await readFile(join(dir, 'objects', dep.bucket, 'report', 'part-1'), 'utf8')).toBe('a part');
    await run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir });

    await dep.store.delete('report/part-1');
    const kept = await exportOnce();
    expect(kept.kept).toBe(1);
    expect((await readManifest(dir)).map((e) => e.key)).toContain('report/part-1');
    const dropped = await exportDeployment({
      ...small,
      source,
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      delete: true,
    });
    expect(dropped.deleted).toBe(1);
    expect((await readManifest(dir)).map((e) => e.key)).not.toContain('report/part-1');
    await dep.store.delete('report');
    await exportDeployment({
      ...small,
      source,
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      delete: true,
    });
  });

  it('catches a flipped byte with verify and with sha256sum -c, and restore refuses the file', async () => {
    const path = join(dir, 'objects', dep.bucket, 'medium.bin');
    const bytes = await readFile(path);
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
    await writeFile(path, bytes);

    const v = await verifyFolder({ dir, progress: sink, quiet: true });
    expect(v.bad).toBe(1);
    expect(v.findings).toEqual([expect.objectContaining({ key: 'medium.bin', problem: 'changed' })]);
    await expect(run('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir })).rejects.toMatchObject({
      stdout: expect.stringContaining('medium.bin: FAILED'),
    });

    const third = await startEmbedded();
    try {
      const r = await restoreDeployment({ target: side(third), dir, progress: sink, quiet: true });
      expect(r.failed.map((f) => f.key)).toEqual(['medium.bin']);
    } finally {
      await third.stop();
    }
  });
});
