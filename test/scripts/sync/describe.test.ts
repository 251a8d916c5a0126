/**
 * What an export records of a bucket's settings: versioning, lifecycle rules, default encryption
 * and tags, read from moto (which implements them) exactly as set; and nothing invented for
 * fauxqs, which answers those requests with the bucket's listing.
 */
import {
  CreateBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { describeBucket, type LiveSide } from '../../../scripts/sync/describe.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../../support/emulators.js';

const side = (e: Emulator): LiveSide => ({ endpoint: e.config, sqs: e.sqs, s3: e.s3 });

describe('describeBucket', () => {
  let moto: Emulator;
  let fauxqs: Emulator;

  beforeAll(async () => {
    [moto, fauxqs] = await Promise.all([startMoto(), startEmbedded()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([moto?.stop(), fauxqs?.stop()]);
  });

  it('reads versioning, lifecycle, encryption and tags as they were set', async () => {
    const bucket = uniqueName('settings');
    const s3 = moto.s3;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'expire-results',
              Status: 'Enabled',
              Filter: { Prefix: 'results/' },
              Expiration: { Days: 30 },
            },
          ],
        },
      }),
    );
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [
            {
              ApplyServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: 'alias/flotilla',
              },
              BucketKeyEnabled: true,
            },
          ],
        },
      }),
    );
    await s3.send(
      new PutBucketTaggingCommand({
        Bucket: bucket,
        Tagging: {
          TagSet: [
            { Key: 'app', Value: 'flotilla' },
            { Key: 'cost-centre', Value: 'a&b <c>' },
          ],
        },
      }),
    );
    const d = await describeBucket(side(moto), bucket);
    expect(d.versioning).toBe('Enabled');
    expect(d.tags).toEqual({ app: 'flotilla', 'cost-centre': 'a&b <c>' });
    expect(d.encryption).toMatchObject({
      Rules: [
        {
          ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/flotilla' },
          BucketKeyEnabled: true,
        },
      ],
    });
    expect(d.lifecycleRules).toMatchObject([
      { ID: 'expire-results', Status: 'Enabled', Expiration: { Days: 30 } },
    ]);
    expect(d.unavailable).toBeUndefined();
  });

  it('reports a bucket with no settings as having none', async () => {
    const bucket = uniqueName('plain');
    await moto.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const d = await describeBucket(side(moto), bucket);
    expect(d).toEqual({ name: bucket });
  });

  it('invents nothing from an endpoint that answers settings requests with something else', async () => {
    const bucket = uniqueName('faux');
    await fauxqs.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await new S3Store(fauxqs.s3, bucket).put('a/key.txt', 'x');
    const d = await describeBucket(side(fauxqs), bucket);
    expect(d.versioning).toBeUndefined();
    expect(d.tags).toBeUndefined();
    expect(d.lifecycleRules).toBeUndefined();
    expect(d.encryption).toBeUndefined();
  });
});
