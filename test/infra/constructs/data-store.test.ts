import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DataStore } from '../../../infra/constructs/data-store.js';
import { DEFAULT_BUCKET, PREFIXES, resolveDeployment } from '../../../infra/definitions.js';
import { newStack } from '../support.js';

function synth(props: ConstructorParameters<typeof DataStore>[2] = {}) {
  const stack = newStack();
  const store = new DataStore(stack, 'DataStore', props);
  return { stack, store, template: Template.fromStack(stack) };
}

describe('DataStore', () => {
  it("synthesizes in an app with none of cdk.json's feature flags, delivering access logs under a bucket policy", () => {
    const stack = new Stack(new App(), 'Bare');
    const store = new DataStore(stack, 'DataStore');
    const t = Template.fromStack(stack);
    const logBucket =
      t.findResources('AWS::S3::Bucket')[
        stack.getLogicalId(store.accessLogBucket.node.defaultChild as never)
      ];
    expect(logBucket?.Properties.AccessControl).toBeUndefined();
    expect(logBucket?.Properties.OwnershipControls).toEqual({
      Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }],
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
  });

  const { template, stack, store } = synth();
  const dataBucketId = stack.getLogicalId(store.bucket.node.defaultChild as never);
  const logBucketId = stack.getLogicalId(store.accessLogBucket.node.defaultChild as never);

  it('versions, encrypts and blocks public access to the data bucket, logging access to the log bucket', () => {
    const data = template.findResources('AWS::S3::Bucket')[dataBucketId];
    expect(data?.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: logBucketId }, LogFilePrefix: 'data/' },
    });
  });

  it('expires results and per-job bookkeeping, non-current versions and abandoned uploads after the defined days', () => {
    const rules =
      template.findResources('AWS::S3::Bucket')[dataBucketId]?.Properties.LifecycleConfiguration.Rules;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Prefix: PREFIXES.results,
          ExpirationInDays: DEFAULT_BUCKET.resultsExpireDays,
          Status: 'Enabled',
        }),
        // Bookkeeping that would otherwise grow with every job ever run expires with the results.
        ...[PREFIXES.progress, PREFIXES.errors, PREFIXES.payloads, PREFIXES.fired, PREFIXES.workers].map(
          (prefix) =>
            expect.objectContaining({
              Prefix: prefix,
              ExpirationInDays: DEFAULT_BUCKET.resultsExpireDays,
              Status: 'Enabled',
            }),
        ),
        expect.objectContaining({
          NoncurrentVersionExpiration: { NoncurrentDays: DEFAULT_BUCKET.noncurrentVersionExpireDays },
        }),
        expect.objectContaining({
          AbortIncompleteMultipartUpload: {
            DaysAfterInitiation: DEFAULT_BUCKET.abortIncompleteMultipartUploadDays,
          },
        }),
      ]),
    );
  });

  it('denies requests without TLS on both buckets', () => {
    for (const id of [dataBucketId, logBucketId]) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('keeps both buckets when the stack is deleted, unless the user opts out', () => {
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    const optOut = synth({ removeOnDelete: true }).template;
    optOut.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    optOut.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });

  it('follows an overridden definition: no results expiry at 0 days, no versioning when off', () => {
    const def = resolveDeployment({ bucket: { resultsExpireDays: 0, versioned: false } }).bucket;
    const t = synth({ definition: def }).template;
    const buckets = Object.values(t.findResources('AWS::S3::Bucket'));
    const data = buckets.find((b) => b.Properties.LoggingConfiguration);
    expect(data?.Properties.VersioningConfiguration).toBeUndefined();
    expect(JSON.stringify(data?.Properties.LifecycleConfiguration)).not.toContain(PREFIXES.results);
  });

  it('sends object events to a changes queue only when asked', () => {
    template.resourceCountIs('Custom::S3BucketNotifications', 0);
    const on = synth({ changeNotifications: true });
    const queueId = on.stack.getLogicalId(on.store.changesQueue!.node.defaultChild as never);
    on.template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: Match.arrayWith([
          Match.objectLike({ Events: ['s3:ObjectCreated:*'], QueueArn: { 'Fn::GetAtt': [queueId, 'Arn'] } }),
          Match.objectLike({ Events: ['s3:ObjectRemoved:*'], QueueArn: { 'Fn::GetAtt': [queueId, 'Arn'] } }),
        ]),
      },
    });
    on.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });
});
