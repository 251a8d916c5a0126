import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct, type IConstruct } from 'constructs';
import {
  type Access,
  type BucketLayout,
  hasWholeBucket,
  type Principal,
  prefixesFor,
} from '../../core/layout.js';
import {
  type BucketDefinition,
  DATA_LAYOUT,
  DEFAULT_BUCKET,
  PREFIXES,
  validateBucket,
} from '../definitions.js';

/** The S3 object actions behind each kind of access; exact actions, no wildcards. */
const OBJECT_ACTIONS: Readonly<Record<Exclude<Access, 'list'>, readonly string[]>> = Object.freeze({
  read: ['s3:GetObject'],
  // Single puts and every step of a multipart upload are s3:PutObject; an upload that fails
  // aborts itself (lib-storage, leavePartsOnError: false).
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  delete: ['s3:DeleteObject'],
});

export interface DataStoreProps {
  /**
   * Versioning and lifecycle as plain data shared with local provisioning and restore.
   * @default DEFAULT_BUCKET from infra/definitions.ts
   */
  readonly definition?: BucketDefinition;
  /**
   * Delete the buckets and every object in them when the stack is deleted. Deleting objects
   * needs a small custom-resource Lambda (and so a bootstrapped environment).
   * @default false - the buckets are retained (orphaned) on stack delete
   */
  readonly removeOnDelete?: boolean;
  /**
   * With `removeOnDelete`, also empty the buckets first (a custom-resource Lambda, so the stack
   * then has an asset). Without it, CloudFormation can delete only empty buckets.
   * @default - the same as `removeOnDelete`
   */
  readonly autoDeleteObjects?: boolean;
  /**
   * Days to keep server access logs.
   * @default 90
   */
  readonly accessLogRetentionDays?: number;
  /**
   * Send the data bucket's object events (created, removed) to a changes queue, which
   * `flotilla mirror --follow` reads instead of listing the bucket every second.
   * @default false - no notifications; a follower lists the bucket
   */
  readonly changeNotifications?: boolean;
}

/**
 * Grant `accesses` on every key of `bucket` (and unconditioned listing for 'list'): the
 * exporter on the data bucket, a worker on a bucket declared in cdk.json `storage.buckets`.
 */
export function grantBucketAccess(
  grantee: iam.IGrantable,
  bucket: s3.IBucket,
  accesses: readonly Access[],
): void {
  const actions = accesses.flatMap((a) => (a === 'list' ? [] : OBJECT_ACTIONS[a]));
  if (actions.length > 0)
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [bucket.arnForObjects('*')] });
  if (accesses.includes('list'))
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [bucket.bucketArn] });
}

/**
 * The data bucket (inputs, outputs, payloads, results, errors: core/layout.ts): versioned, SSE-S3 encrypted, public access
 * blocked, TLS only, server access logs to a separate log bucket, and lifecycle rules for
 * results, non-current versions and abandoned multipart uploads.
 */
export class DataStore extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly definition: BucketDefinition;
  /** The queue the bucket's object events go to, with `changeNotifications`. */
  readonly changesQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: DataStoreProps = {}) {
    super(scope, id);
    // Server access logs are delivered under a bucket policy, not the LogDeliveryWrite ACL that
    // a bucket with ACLs disabled refuses. `cdk init` apps turn this on for the whole app; set it
    // here so that the construct works in any app, whatever its cdk.json says.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const definition = props.definition ?? DEFAULT_BUCKET;
    const logDays = props.accessLogRetentionDays ?? 90;
    const problems = validateBucket(definition);
    if (!Number.isInteger(logDays) || logDays < 1)
      problems.push('accessLogRetentionDays must be a whole number >= 1');
    if (problems.length > 0)
      throw new Error(`${this.node.path}: invalid DataStore props: ${problems.join('; ')}`);
    this.definition = definition;

    const remove = props.removeOnDelete ?? false;
    const lifecycle = {
      removalPolicy: remove ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: remove && (props.autoDeleteObjects ?? true),
    };

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      ...lifecycle,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(logDays) }],
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server-access-log destination; logging it to itself would loop.',
    });

    const rules: s3.LifecycleRule[] = [
      {
        id: 'AbortIncompleteMultipartUploads',
        abortIncompleteMultipartUploadAfter: Duration.days(definition.abortIncompleteMultipartUploadDays),
      },
    ];
    if (definition.resultsExpireDays > 0) {
      // Results, and the per-job bookkeeping the layout marks as expiring with them (payloads,
      // error records, progress, cancel markers, worker reports, manifests, timer claims).
      for (const p of DATA_LAYOUT.prefixes.filter((d) => d.expires)) {
        rules.push({
          id: p.prefix === PREFIXES.results ? 'ExpireResults' : `Expire-${p.prefix.slice(0, -1)}`,
          prefix: p.prefix,
          expiration: Duration.days(definition.resultsExpireDays),
        });
      }
    }
    if (definition.versioned && definition.noncurrentVersionExpireDays > 0) {
      rules.push({
        id: 'ExpireNoncurrentVersions',
        noncurrentVersionExpiration: Duration.days(definition.noncurrentVersionExpireDays),
        expiredObjectDeleteMarker: true,
      });
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...lifecycle,
      versioned: definition.versioned,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'data/',
      lifecycleRules: rules,
    });

    if (props.changeNotifications) {
      this.changesQueue = new sqs.Queue(this, 'ChangesQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(4),
      });
      Validations.of(this.changesQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          "Object events are hints: a follower's periodic full reconcile catches any it never read, so there is nothing for a DLQ to keep.",
      });
      const to = new s3n.SqsDestination(this.changesQueue);
      this.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, to);
      this.bucket.addEventNotification(s3.EventType.OBJECT_REMOVED, to);
      // The stack's one notifications handler (a CDK singleton Lambda that applies the configuration).
      const handler = Stack.of(this).node.tryFindChild(
        'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
      );
      if (handler)
        Validations.of(handler).acknowledge({
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason:
            "CDK's own handler that writes the bucket's notification configuration at deploy time; it only logs, which is all this policy allows.",
        });
    }
  }

  /**
   * Grant `principal`'s access from the bucket layout (core/layout.ts) to `grantee`: objects
   * under each prefix it may read, write or delete, and s3:ListBucket limited by an s3:prefix
   * condition to the prefixes it may list (with ListBucket on a prefix, a missing key there reads
   * as 404, not 403). Whole-bucket access is granted on every key and unconditioned listing.
   * `owner` carries the cdk-nag acknowledgments of the prefix-scoped resources.
   */
  grantLayout(grantee: iam.IGrantable, owner: IConstruct, layout: BucketLayout, principal: Principal): void {
    const whole = (['read', 'write', 'list', 'delete'] as const).filter((a) =>
      hasWholeBucket(layout, principal, a),
    );
    grantBucketAccess(grantee, this.bucket, whole);
    const acknowledged = new Set<string>(whole.some((a) => a !== 'list') ? [''] : []);
    for (const access of ['read', 'write', 'delete'] as const) {
      const scopes = whole.includes(access) ? [] : prefixesFor(layout, principal, access);
      if (scopes.length === 0) continue;
      iam.Grant.addToPrincipal({
        grantee,
        actions: [...OBJECT_ACTIONS[access]],
        resourceArns: scopes.map((p) => this.bucket.arnForObjects(`${p}*`)),
      });
      for (const p of scopes) acknowledged.add(p);
    }
    const listed = whole.includes('list') ? [] : prefixesFor(layout, principal, 'list');
    if (listed.length > 0) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['s3:ListBucket'],
        resourceArns: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': listed.map((p) => `${p}*`) } },
      });
    }
    this.acknowledgePrefixes(owner, [...acknowledged]);
  }

  private acknowledgePrefixes(owner: IConstruct, prefixes: readonly string[]): void {
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    for (const p of prefixes) {
      Validations.of(owner).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${p}*]`,
        reason: p
          ? `Objects under the '${p}' key prefix only: S3 object ARNs can be no narrower than a prefix.`
          : 'Every object of the data bucket: the exporter backs up and restores the whole bucket.',
      });
    }
  }
}
