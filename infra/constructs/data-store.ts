import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { type BucketDefinition, DEFAULT_BUCKET, PREFIXES, validateBucket } from '../definitions.js';

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
}

/**
 * The data bucket (payloads, results, errors): versioned, SSE-S3 encrypted, public access
 * blocked, TLS only, server access logs to a separate log bucket, and lifecycle rules for
 * results, non-current versions and abandoned multipart uploads.
 */
export class DataStore extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly definition: BucketDefinition;

  constructor(scope: Construct, id: string, props: DataStoreProps = {}) {
    super(scope, id);
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
      rules.push({
        id: 'ExpireResults',
        prefix: PREFIXES.results,
        expiration: Duration.days(definition.resultsExpireDays),
      });
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
  }
}
