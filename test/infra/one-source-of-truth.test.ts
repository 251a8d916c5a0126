/**
 * One source of truth: the queue, bucket and scaling values in the CDK template are the ones
 * infra/definitions.ts and infra/scaling.ts hold, and they reach the template by the same path
 * that local provisioning and the simulator read them. A changed default or override changes
 * the template, provisioning and the simulator together.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.js';
import { DEFAULT_BUCKET, DEFAULT_QUEUE, queueAttributes } from '../../infra/definitions.js';
import { backlogPerWorkerTarget, DEFAULT_SCALING, desiredWorkers } from '../../infra/scaling.js';
import { newApp, stubBundle, TEST_IMAGE } from './support.js';

function build(overrides: Record<string, unknown>) {
  const app = newApp({ env: 'truth', flotilla: { environments: { truth: overrides } } });
  const built = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  return { ...built, template: Template.fromStack(built.primary) };
}

/** The job queue's attributes as the SQS API (and so provisioning) names them, read back from the template. */
function templateQueueAttributes(template: Template): Record<string, string> {
  const queue = Object.values(template.findResources('AWS::SQS::Queue')).find(
    (q) => q.Properties.RedrivePolicy,
  );
  const p = queue?.Properties ?? {};
  return {
    VisibilityTimeout: String(p.VisibilityTimeout),
    MessageRetentionPeriod: String(p.MessageRetentionPeriod),
    ReceiveMessageWaitTimeSeconds: String(p.ReceiveMessageWaitTimeSeconds),
    MaximumMessageSize: String(p.MaximumMessageSize),
    SqsManagedSseEnabled: String(p.SqsManagedSseEnabled),
    maxReceiveCount: String(p.RedrivePolicy?.maxReceiveCount),
  };
}

function provisioningAttributes(q: typeof DEFAULT_QUEUE): Record<string, string> {
  const { RedrivePolicy, ...rest } = queueAttributes(q, 'arn:aws:sqs:us-east-1:123456789012:dlq');
  return { ...rest, maxReceiveCount: String(JSON.parse(RedrivePolicy ?? '{}').maxReceiveCount) };
}

function targetValue(template: Template): number {
  const tt = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')).find(
    (p) => p.Properties.PolicyType === 'TargetTrackingScaling',
  );
  return tt?.Properties.TargetTrackingScalingPolicyConfiguration.TargetValue;
}

describe('one source of truth for queue, bucket and scaling settings', () => {
  it('deploys exactly the attributes local provisioning creates, from the defaults', () => {
    const { template } = build({});
    expect(templateQueueAttributes(template)).toEqual(provisioningAttributes(DEFAULT_QUEUE));
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).toContain(
      `"ExpirationInDays":${DEFAULT_BUCKET.resultsExpireDays}`,
    );
    expect(targetValue(template)).toBe(backlogPerWorkerTarget(DEFAULT_SCALING));
  });

  it('moves the template, provisioning and the simulator together when a setting changes', () => {
    const { template, config } = build({
      queue: { visibilityTimeoutSeconds: 301, maxReceiveCount: 7 },
      bucket: { resultsExpireDays: 9 },
      scaling: { averageJobSeconds: 4, acceptableLatencySeconds: 30, maxWorkers: 12 },
    });
    expect(templateQueueAttributes(template)).toEqual(provisioningAttributes(config.deployment.queue));
    expect(templateQueueAttributes(template)).toMatchObject({
      VisibilityTimeout: '301',
      maxReceiveCount: '7',
    });
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).toContain('"ExpirationInDays":9');
    // The target the fleet tracks is the one the simulator replays with.
    const target = backlogPerWorkerTarget(config.scaling);
    expect(targetValue(template)).toBe(target);
    expect(target).toBe((30 / 4) * DEFAULT_SCALING.jobsPerWorker);
    expect(desiredWorkers(target * 5, config.scaling)).toBe(5);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MaxCapacity: 12 });
  });
});
