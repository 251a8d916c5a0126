import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app.js';
import {
  DEFAULT_JOB_QUEUES,
  QUEUE_NAMES_OUTPUT,
  queueOutputKeys,
  STACK_OUTPUTS,
} from '../../../infra/definitions.js';
import { newApp, scrubAssetHashes, stubBundle, TEST_IMAGE } from '../support.js';

describe('DataPlaneStack', () => {
  const app = newApp({ env: 'test', flotilla: { environments: { test: { removeDataOnDelete: true } } } });
  const { dataPlane, primary } = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  const template = Template.fromStack(dataPlane);
  const primaryTemplate = Template.fromStack(primary);

  it('holds queues and buckets only: no compute, no functions, no assets', () => {
    const types = new Set(
      Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type),
    );
    expect([...types].sort()).toEqual([
      'AWS::S3::Bucket',
      'AWS::S3::BucketPolicy',
      'AWS::SQS::Queue',
      'AWS::SQS::QueuePolicy',
    ]);
    // No bootstrap needed: no version check parameter, no asset manifest entries.
    expect(JSON.stringify(template.toJSON())).not.toContain('BootstrapVersion');
  });

  it('uses the same queue and bucket settings as the primary stack', () => {
    const settings = (t: Template) =>
      Object.values(t.findResources('AWS::SQS::Queue'))
        .map((r) => {
          const { VisibilityTimeout, MessageRetentionPeriod, MaximumMessageSize, RedrivePolicy } =
            r.Properties;
          return JSON.stringify({
            VisibilityTimeout,
            MessageRetentionPeriod,
            MaximumMessageSize,
            maxReceiveCount: RedrivePolicy?.maxReceiveCount,
          });
        })
        .sort();
    expect(settings(template)).toEqual(settings(primaryTemplate));
    const lifecycle = (t: Template) =>
      JSON.stringify(
        Object.values(t.findResources('AWS::S3::Bucket')).map((b) => [
          b.Properties.LifecycleConfiguration,
          b.Properties.VersioningConfiguration,
        ]),
      );
    expect(lifecycle(template)).toEqual(lifecycle(primaryTemplate));
  });

  it('carries every job queue, each with its own DLQ', () => {
    expect(dataPlane.jobQueues.map((q) => q.name)).toEqual(['urgent', 'default', 'bulk']);
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2 * DEFAULT_JOB_QUEUES.length);
    const dlqTargets = new Set(
      Object.values(queues).map((q) => JSON.stringify(q.Properties.RedrivePolicy?.deadLetterTargetArn)),
    );
    expect(dlqTargets.size).toBe(DEFAULT_JOB_QUEUES.length + 1); // three DLQs, and undefined for the DLQs
  });

  it('exports every queue, DLQ and the bucket under the keys the CLI reads', () => {
    const outputs = template.findOutputs('*');
    const perQueue = DEFAULT_JOB_QUEUES.flatMap((q) => Object.values(queueOutputKeys(q.name)));
    expect(Object.keys(outputs).sort()).toEqual(
      [STACK_OUTPUTS.bucket, QUEUE_NAMES_OUTPUT, ...perQueue].sort(),
    );
    expect(perQueue).toContain(STACK_OUTPUTS.queueUrl);
    expect(outputs[QUEUE_NAMES_OUTPUT]?.Value).toBe('urgent,default,bulk');
  });

  it('matches its snapshot, asset hashes scrubbed', () => {
    expect(scrubAssetHashes(template.toJSON())).toMatchSnapshot();
  });
});
