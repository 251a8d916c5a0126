/**
 * One source of truth: the queues and bucket that local provisioning creates carry exactly the
 * attributes written in infra/definitions.ts (which the CDK constructs read too).
 */
import { GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { DEFAULT_QUEUE, resolveDeployment, resourceNames } from '../../infra/definitions.js';
import { provisionDeployment } from '../../scripts/provision.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../support/emulators.js';

describe.each([
  ['fauxqs', startEmbedded],
  ['moto', startMoto],
])('provisioning on %s', (_name, start) => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await start();
  });
  afterAll(async () => emu?.stop());

  it('creates the queue, DLQ and bucket with the definitions’ attributes and redrive policy', async () => {
    const name = uniqueName('p');
    const def = resolveDeployment({ queue: { visibilityTimeoutSeconds: 45, maxReceiveCount: 7 } });
    const p = await provisionDeployment({ sqs: emu.sqs, s3: emu.s3 }, name, def);
    expect(p.bucket).toBe(resourceNames(name).bucket);
    const attrs = await new SqsQueue(emu.sqs, p.queueUrl).attributes();
    const dlqAttrs = await new SqsQueue(emu.sqs, p.dlqUrl).attributes();
    expect(attrs.VisibilityTimeout).toBe('45');
    expect(attrs.MessageRetentionPeriod).toBe(String(DEFAULT_QUEUE.retentionSeconds));
    expect(JSON.parse(attrs.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlqAttrs.QueueArn,
      maxReceiveCount: 7,
    });
    expect(dlqAttrs.MessageRetentionPeriod).toBe(String(DEFAULT_QUEUE.dlqRetentionSeconds));
    // Running it again is harmless and brings a changed definition in.
    const changed = resolveDeployment({ queue: { visibilityTimeoutSeconds: 90 } });
    await provisionDeployment({ sqs: emu.sqs, s3: emu.s3 }, name, changed);
    expect((await new SqsQueue(emu.sqs, p.queueUrl).attributes()).VisibilityTimeout).toBe('90');
  });

  it('turns versioning on where the endpoint supports it', async () => {
    const p = await provisionDeployment({ sqs: emu.sqs, s3: emu.s3 }, uniqueName('v'));
    const v = await emu.s3
      .send(new GetBucketVersioningCommand({ Bucket: p.bucket }))
      .catch(() => ({ Status: undefined }));
    expect(p.versioning).toBe(v.Status === 'Enabled');
  });
});

describe('definitions', () => {
  it('reject impossible values, listing every problem at once', () => {
    expect(() =>
      resolveDeployment({ queue: { visibilityTimeoutSeconds: 50_000, maxReceiveCount: 0 } }),
    ).toThrow(/visibilityTimeoutSeconds must be .*; maxReceiveCount must be/);
  });

  it('refuse deployment names that cannot name a bucket', () => {
    expect(() => resourceNames('My_App')).toThrow(/lowercase letters, digits and '-'/);
  });
});
