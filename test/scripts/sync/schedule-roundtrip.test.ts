/**
 * Schedules and pending delayed jobs are bucket records: export carries them to a folder, restore
 * brings them to another endpoint, and a timer there fires them as the source would have.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSchedule, listDelayed, listSchedules } from '../../../client/schedule.js';
import { Submitter } from '../../../client/submit.js';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import { parseEnvelope } from '../../../core/envelope.js';
import { Timer } from '../../../scripts/scheduler/timer.js';
import type { LiveSide } from '../../../scripts/sync/describe.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { restoreDeployment } from '../../../scripts/sync/restore.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

const side = (e: Emulator): LiveSide => ({ endpoint: e.config, sqs: e.sqs, s3: e.s3 });
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

describe('export and restore of schedules and delayed jobs', () => {
  let sourceEmu: Emulator;
  let targetEmu: Emulator;
  let root: string;
  beforeAll(async () => {
    [sourceEmu, targetEmu] = await Promise.all([startEmbedded(), startEmbedded()]);
    root = await mkdtemp(join(tmpdir(), 'flotilla-sched-'));
  });
  afterAll(async () => {
    await Promise.all([sourceEmu?.stop(), targetEmu?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('round-trips a schedule and a pending delayed job, which then fire on the restored deployment', async () => {
    const dep = await freshDeployment(sourceEmu);
    const created = Date.now();
    const handle = await new Submitter({ queue: dep.queue, store: dep.store }).submit(
      'report',
      { month: 12 },
      { id: 'in-3h', delaySeconds: 3 * 3600 },
    );
    await addSchedule(
      dep.store,
      { name: 'nightly', cron: '0 2 * * *', type: 'report', payload: { k: 1 } },
      created,
    );

    const dir = join(root, 'export');
    const exported = await exportDeployment({
      source: side(sourceEmu),
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      quiet: true,
      progress: sink,
    });
    expect(exported.failed).toEqual([]);
    const restored = await restoreDeployment({ target: side(targetEmu), dir, progress: sink, quiet: true });
    expect(restored.failed).toEqual([]);

    const store = new S3Store(targetEmu.s3, dep.bucket);
    expect((await listSchedules(store)).schedules).toEqual((await listSchedules(dep.store)).schedules);
    expect(await listDelayed(store)).toEqual(await listDelayed(dep.store));

    const queueName = dep.queueUrl.split('/').pop();
    const url = (await targetEmu.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl!;
    const queue = new SqsQueue(targetEmu.sqs, url);
    const dueAt = Date.parse(handle.submitted.dueAt!);
    const clock = { ms: dueAt + 60_000 };
    const timer = new Timer({ store, queueFor: () => queue, now: () => clock.ms });
    const r = await timer.tick();
    expect(r.delayed).toBe(1);
    const msgs = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    const ids = msgs.map((m) => parseEnvelope(m.body)).map((e) => `${e.batch}/${e.id}`);
    expect(ids).toContain(`${handle.batch}/in-3h`);
    // The nightly slot that fell in those three hours, if any, came from the restored schedule.
    expect(ids.length).toBe(1 + r.slots);
  }, 60_000);
});
