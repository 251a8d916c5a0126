/**
 * Restore into moto_server through the data-plane CloudFormation stack (`flotilla restore
 * --deploy-stack`): the stack is built from the exported settings, and the objects and DLQ
 * messages land in the resources it created.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { SqsQueue } from '../../../core/adapters/sqs-queue.js';
import type { LiveSide } from '../../../scripts/sync/describe.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { readDescription } from '../../../scripts/sync/folder.js';
import { stackOutputs } from '../../../scripts/target.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../../support/emulators.js';
import { runCli, type Seeded, seedObjects } from './fixtures.js';

const side = (e: Emulator): LiveSide => ({ endpoint: e.config, sqs: e.sqs, s3: e.s3 });
const sink = { write: () => true } as unknown as NodeJS.WritableStream;

describe('restore into moto by deploying the data-plane stack', () => {
  let fauxqs: Emulator;
  let moto: Emulator;
  let dir: string;
  let objects: Seeded[];
  const stackName = uniqueName('restored');

  beforeAll(async () => {
    [fauxqs, moto] = await Promise.all([startEmbedded(), startMoto()]);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-stack-'));
    const dep = await freshDeployment(fauxqs, { visibilityTimeoutSeconds: 75, maxReceiveCount: 7 });
    objects = await seedObjects(dep.store);
    await dep.dlq.send({ body: '{"type":"poison"}' });
    const r = await exportDeployment({
      source: side(fauxqs),
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      includeDlq: true,
      progress: sink,
      quiet: true,
    });
    expect(r.failed).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([fauxqs?.stop(), moto?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates the stack with the exported queue settings and fills its bucket and DLQ', async () => {
    // Through the command, as a user runs it: the CLI bundle loads the CDK only for this.
    const r = await runCli([
      'restore',
      '--from',
      dir,
      '--deploy-stack',
      stackName,
      '--include-dlq',
      '--endpoint',
      moto.endpoint,
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`restored ${objects.length} objects`);

    const outputs = await stackOutputs(moto.config, stackName);
    expect(r.stdout).toContain(`bucket ${outputs.bucket}`);
    const attrs = (
      await moto.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: outputs.queueUrl, AttributeNames: ['All'] }),
      )
    ).Attributes;
    expect(attrs?.VisibilityTimeout).toBe('75');
    expect(JSON.parse(attrs?.RedrivePolicy ?? '{}').maxReceiveCount).toBe(7);

    const store = new S3Store(moto.s3, outputs.bucket ?? '');
    for (const o of objects) {
      expect((await store.get(o.key)).equals(o.body), o.key).toBe(true);
      expect((await store.head(o.key))?.metadata).toEqual(o.metadata ?? {});
    }
    const msgs = await new SqsQueue(moto.sqs, outputs.dlqUrl ?? '').receive({
      maxMessages: 10,
      waitTimeSeconds: 1,
    });
    expect(msgs.map((m) => m.body)).toEqual(['{"type":"poison"}']);
  });

  it('exports a stack with its template, queues and bucket found from the stack outputs', async () => {
    const again = join(dir, 'from-stack');
    const outputs = await stackOutputs(moto.config, stackName);
    const r = await exportDeployment({
      source: side(moto),
      dir: again,
      stack: stackName,
      ...(outputs.bucket ? { bucket: outputs.bucket } : {}),
      ...(outputs.queueUrl ? { queueUrl: outputs.queueUrl } : {}),
      progress: sink,
      quiet: true,
    });
    expect(r.failed).toEqual([]);
    expect(r.objects).toBe(objects.length);
    const d = await readDescription(again);
    const template = d?.stacks[0]?.template as { Resources?: Record<string, { Type: string }> };
    expect(Object.values(template.Resources ?? {}).map((x) => x.Type)).toEqual(
      expect.arrayContaining(['AWS::SQS::Queue', 'AWS::S3::Bucket']),
    );
    expect(d?.source.account).toBe('123456789012');
    expect(d?.queues.map((q) => q.role).sort()).toEqual(['dlq', 'jobs']);
  });
});
