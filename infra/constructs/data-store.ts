import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
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

  /**
   * Read objects under key prefixes: s3:GetObject on `prefix*`, plus s3:ListBucket on the
   * bucket so that a missing key reads as 404 (not 403). Exact actions, no wildcards.
   * `owner` is the role (or any construct above its policy) that carries the acknowledgment
   * of the prefix-scoped resource for cdk-nag.
   */
  grantReadPrefixes(grantee: iam.IGrantable, owner: IConstruct, prefixes: readonly string[]): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: prefixes.map((p) => this.bucket.arnForObjects(`${p}*`)),
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
    this.acknowledgePrefixes(owner, prefixes);
  }

  /** Write objects under key prefixes (single and multipart puts, aborting a failed upload); no deletes. */
  grantWritePrefixes(grantee: iam.IGrantable, owner: IConstruct, prefixes: readonly string[]): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: prefixes.map((p) => this.bucket.arnForObjects(`${p}*`)),
    });
    this.acknowledgePrefixes(owner, prefixes);
  }

  private acknowledgePrefixes(owner: IConstruct, prefixes: readonly string[]): void {
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    for (const p of prefixes) {
      Validations.of(owner).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${p}*]`,
        reason: `Objects under the '${p}' key prefix only: S3 object ARNs can be no narrower than a prefix.`,
      });
    }
  }
}
