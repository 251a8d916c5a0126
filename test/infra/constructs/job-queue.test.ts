import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../../infra/constructs/job-queue.js';
import { DEFAULT_QUEUE, resolveDeployment } from '../../../infra/definitions.js';
import { newStack } from '../support.js';

function synth(props: ConstructorParameters<typeof JobQueue>[2] = {}, withTopic = false) {
  const stack = newStack();
  const alarmTopic = withTopic ? { alarmTopic: new sns.Topic(stack, 'Topic') } : {};
  const q = new JobQueue(stack, 'JobQueue', { ...props, ...alarmTopic });
  return { stack, q, template: Template.fromStack(stack) };
}

describe('JobQueue', () => {
  const { template, stack, q } = synth({}, true);

  it('encrypts both queues and takes its attributes from the shared definition', () => {
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: DEFAULT_QUEUE.visibilityTimeoutSeconds,
      MessageRetentionPeriod: DEFAULT_QUEUE.retentionSeconds,
      ReceiveMessageWaitTimeSeconds: DEFAULT_QUEUE.receiveWaitTimeSeconds,
      RedrivePolicy: {
        deadLetterTargetArn: {
          'Fn::GetAtt': [stack.getLogicalId(q.deadLetterQueue.node.defaultChild as never), 'Arn'],
        },
        maxReceiveCount: DEFAULT_QUEUE.maxReceiveCount,
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: DEFAULT_QUEUE.dlqRetentionSeconds,
      RedrivePolicy: Match.absent(),
    });
  });

  it('denies every request to either queue that does not use TLS', () => {
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    expect(Object.keys(policies)).toHaveLength(2);
    for (const p of Object.values(policies)) {
      expect(p.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 'sqs:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Principal: { AWS: '*' },
        }),
      );
    }
  });

  it('alarms on any message in the DLQ and on an old job, notifying the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: Duration.minutes(15).toSeconds(),
      AlarmActions: Match.anyValue(),
    });
  });

  it('follows an overridden definition (visibility, retention, maxReceiveCount)', () => {
    const def = resolveDeployment({ queue: { visibilityTimeoutSeconds: 300, maxReceiveCount: 2 } }).queue;
    const t = synth({ definition: def, alarms: false }).template;
    t.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 300,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 2 }),
    });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });

  it('refuses an invalid definition with the construct path in the message', () => {
    expect(() => synth({ definition: { ...DEFAULT_QUEUE, maxReceiveCount: 0 } })).toThrow(
      /Test\/JobQueue: invalid JobQueue props: maxReceiveCount/,
    );
  });
});
