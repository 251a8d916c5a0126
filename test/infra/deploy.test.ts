/**
 * `cdk deploy` of the data-plane stack into moto_server, then the deployed queues and bucket
 * checked through the SDK (every job queue with its own DLQ), found by `flotilla submit --stack
 * NAME --queue urgent` from the stack outputs, and a job round-tripped through a local worker
 * serving every queue.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetBucketEncryptionCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_QUEUES, DEFAULT_QUEUE, PREFIXES, resolveDeployment } from '../../infra/definitions.js';
import { buildWorker } from '../../scripts/build-worker.js';
import { stackOutputs } from '../../scripts/target.js';
import { startMoto, uniqueName } from '../support/emulators.js';
import { cdkDeploy, flotilla, type RunResult, startWorkerProcess } from '../support/moto-deploy.js';

describe('cdk deploy of the data-plane stack to moto', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  const name = uniqueName('fdp');
  const stack = `${name}-data-plane`;
  // One override, to show the deployed queue follows the configuration, not a constant.
  const maxReceiveCount = DEFAULT_QUEUE.maxReceiveCount + 2;
  let deploy: RunResult;
  let outputs: Awaited<ReturnType<typeof stackOutputs>>;

  beforeAll(async () => {
    await buildWorker(); // the EC2 fleet's asset: cdk.json's app builds it, this test's --app does not
    moto = await startMoto();
    deploy = await cdkDeploy({
      endpoint: moto.endpoint,
      stack,
      env: 'motodeploy',
      flotilla: { environments: { motodeploy: { stackName: name, queue: { maxReceiveCount } } } },
      outdir: mkdtempSync(join(tmpdir(), 'flotilla-cdk-out-')),
    });
    if (deploy.code === 0) outputs = await stackOutputs(moto.config, stack);
  }, 180_000);

  afterAll(async () => {
    await moto?.stop();
  });

  it('deploys without bootstrap, Docker or network', () => {
    // The CDK CLI logs to stderr, or to stdout when CI=true (as in CI): read both.
    expect(`${deploy.stdout}${deploy.stderr}`.slice(-3000)).toContain(`✅  ${stack}`);
    expect(deploy.code).toBe(0);
  });

  it('creates the job queue with its visibility timeout and redrive policy to the DLQ', async () => {
    const expected = resolveDeployment({ queue: { maxReceiveCount } }).queue;
    expect(outputs.queueUrl).toBeDefined();
    expect(outputs.dlqUrl).toBeDefined();
    const q = await moto.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: outputs.queueUrl, AttributeNames: ['All'] }),
    );
    const dlq = await moto.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: outputs.dlqUrl, AttributeNames: ['All'] }),
    );
    expect(q.Attributes?.VisibilityTimeout).toBe(String(expected.visibilityTimeoutSeconds));
    expect(q.Attributes?.MessageRetentionPeriod).toBe(String(expected.retentionSeconds));
    expect(q.Attributes?.ReceiveMessageWaitTimeSeconds).toBe(String(expected.receiveWaitTimeSeconds));
    const redrive = JSON.parse(q.Attributes?.RedrivePolicy ?? '{}');
    expect(redrive).toEqual({ deadLetterTargetArn: dlq.Attributes?.QueueArn, maxReceiveCount });
    expect(dlq.Attributes?.MessageRetentionPeriod).toBe(String(expected.dlqRetentionSeconds));
  });

  // moto's CloudFormation applies a bucket's encryption and tags but ignores versioning, lifecycle
  // and public-access-block properties; those are asserted on the template in data-store.test.ts.
  it('creates every job queue of the definitions, each with its redrive policy to a DLQ of its own', async () => {
    expect(outputs.queues?.map((q) => q.name)).toEqual(DEFAULT_JOB_QUEUES.map((q) => q.name));
    const dlqArns = new Set<string>();
    for (const q of outputs.queues ?? []) {
      const attrs = await moto.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['RedrivePolicy'] }),
      );
      const dlq = await moto.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.dlqUrl, AttributeNames: ['QueueArn'] }),
      );
      const redrive = JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}');
      expect(redrive, q.name).toEqual({ deadLetterTargetArn: dlq.Attributes?.QueueArn, maxReceiveCount });
      dlqArns.add(redrive.deadLetterTargetArn);
    }
    expect(dlqArns.size).toBe(DEFAULT_JOB_QUEUES.length);
  });

  it('creates the data bucket, encrypted', async () => {
    const Bucket = outputs.bucket;
    expect(Bucket).toMatch(new RegExp(`^${stack}-datastorebucket`));
    const enc = await moto.s3.send(new GetBucketEncryptionCommand({ Bucket }));
    expect(
      enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm,
    ).toBe('AES256');
  });

  it('lets `flotilla submit --stack NAME --queue urgent` find the queue from the outputs and a job round-trip through a worker', async () => {
    // The worker is the bundle the fleets ship, configured by the variables the fleets inject.
    const { outfile } = await buildWorker(join(mkdtempSync(join(tmpdir(), 'flotilla-bundle-')), 'worker.js'));
    const worker = startWorkerProcess([outfile], moto.endpoint, {
      FLOTILLA_QUEUE_URL: outputs.queueUrl ?? '',
      FLOTILLA_DLQ_URL: outputs.dlqUrl ?? '',
      FLOTILLA_BUCKET: outputs.bucket ?? '',
      FLOTILLA_SCALE_IN_GUARD: 'none',
      FLOTILLA_WAIT_SECONDS: '1',
      // As the fleet sets it: every queue, highest priority first.
      FLOTILLA_QUEUES: JSON.stringify(outputs.queues),
    });
    let stopped: Awaited<ReturnType<typeof worker.stop>> | undefined;
    try {
      const submit = await flotilla(
        [
          'submit',
          'pi',
          '--stack',
          stack,
          '--endpoint',
          moto.endpoint,
          '--queue',
          'urgent',
          '--payload',
          '{"samples":1000}',
          '--wait',
        ],
        moto.endpoint,
      );
      expect(submit.stderr + submit.stdout).toMatch(/1 done, 0 in DLQ/);
      expect(submit.code).toBe(0);
    } finally {
      stopped = await worker.stop();
    }
    const listed = await moto.s3.send(
      new ListObjectsV2Command({ Bucket: outputs.bucket, Prefix: PREFIXES.results }),
    );
    expect(listed.Contents?.length).toBe(1);
    // SIGTERM: the worker drains and exits 0 by itself, which ECS's stopTimeout and systemd's
    // TimeoutStopSec rely on.
    expect(worker.output()).toMatch(/"msg":"worker stopped".*"done":1/);
    expect(stopped, worker.output()).toEqual({ code: 0, signal: null });
  });
});
