/**
 * The S3 store's own signed requests (core/adapters/s3-store.ts): its listing reads what S3 sends
 * (entities, url-encoded keys, continuation), and over the wire it returns what the SDK's
 * GetObjectCommand and ListObjectsV2Command return, byte for byte and header for header, on fauxqs
 * and on moto (which, unlike fauxqs, honours encoding-type=url).
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { describeError } from '../../../core/errors.js';
import { parseListPage, tagSetOf, xmlField } from '../../../core/transport/s3-xml.js';
import { runPool } from '../../../scripts/sync/pool.js';
import { HOSTILE_KEYS } from '../../scripts/sync/fixtures.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../../support/emulators.js';

describe('parseListPage', () => {
  const page = (contents: string, extra = '') =>
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>${extra}${contents}</ListBucketResult>`;
  const entry = (key: string, size = 3) =>
    `<Contents><Key>${key}</Key><LastModified>2026-11-25T10:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;

  it('reads keys, sizes, ETags and times, decoding XML entities', () => {
    const { objects, next } = parseListPage(
      page(
        entry('a&amp;b &lt;c&gt; &#233;&#xE9;😀') + entry('plain', 10),
        '<IsTruncated>false</IsTruncated>',
      ),
    );
    expect(objects).toEqual([
      { key: 'a&b <c> éé😀', size: 3, etag: '"e1"', lastModifiedMs: Date.parse('2026-11-25T10:00:00.000Z') },
      { key: 'plain', size: 10, etag: '"e1"', lastModifiedMs: Date.parse('2026-11-25T10:00:00.000Z') },
    ]);
    expect(next).toBeUndefined();
  });

  it('decodes url-encoded keys only when the server says it encoded them', () => {
    const encoded = parseListPage(
      page(entry('a+b%2Bc%01%25'), '<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>'),
    );
    expect(encoded.objects[0]?.key).toBe('a b+c\u0001%');
    const after = parseListPage(
      `<ListBucketResult>${entry('x%2By')}<EncodingType>url</EncodingType></ListBucketResult>`,
    );
    expect(after.objects[0]?.key).toBe('x+y');
    const raw = parseListPage(page(entry('a+b%2Bc'), '<IsTruncated>false</IsTruncated>'));
    expect(raw.objects[0]?.key).toBe('a+b%2Bc');
  });

  it('returns the continuation token of a truncated page, wherever the server puts it', () => {
    const before = parseListPage(
      page(entry('k'), '<IsTruncated>true</IsTruncated><NextContinuationToken>t/1=</NextContinuationToken>'),
    );
    expect(before.next).toBe('t/1=');
    const after = parseListPage(
      `<ListBucketResult>${entry('k')}<IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken></ListBucketResult>`,
    );
    expect(after.next).toBe('t2');
    expect(parseListPage(page('', '<IsTruncated>false</IsTruncated>')).objects).toEqual([]);
  });

  it('refuses a page cut off in the middle of an object', () => {
    expect(() => parseListPage('<ListBucketResult><Contents><Key>a</Key>')).toThrow(/missing closing tag/);
  });
});

describe('bucket settings from their XML', () => {
  it('reads a versioning status and tags, and finds none in another document', () => {
    const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
    expect(
      xmlField(`<VersioningConfiguration ${ns}><Status>Enabled</Status></VersioningConfiguration>`, 'Status'),
    ).toBe('Enabled');
    expect(
      tagSetOf(`<Tagging ${ns}><TagSet><Tag><Key>a</Key><Value>1 &amp; 2</Value></Tag></TagSet></Tagging>`),
    ).toEqual([{ Key: 'a', Value: '1 & 2' }]);
    // A listing where a setting was asked for: no setting, whatever its keys say.
    const listing = `<ListBucketResult ${ns}><Contents><Key>&lt;Status&gt;&lt;Tag&gt;</Key></Contents></ListBucketResult>`;
    expect(xmlField(listing, 'Status')).toBeUndefined();
    expect(tagSetOf(listing)).toEqual([]);
  });
});

const AWKWARD_KEYS = [
  ...HOSTILE_KEYS,
  'space in name.txt',
  'plus+sign.txt',
  'percent%20literal.txt',
  'ünïcødé/文件.txt',
  "quote'paren(1)*!.txt",
  'amp&lt<gt>.txt',
];

for (const kind of ['fauxqs', 'moto'] as const) {
  describe(`S3Store against ${kind}`, () => {
    let emu: Emulator;
    let bucket: string;
    let store: S3Store;
    const bodies = new Map<string, Buffer>();

    beforeAll(async () => {
      emu = kind === 'fauxqs' ? await startEmbedded() : await startMoto();
      bucket = uniqueName('reader');
      await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      store = new S3Store(emu.s3, bucket);
      for (const key of AWKWARD_KEYS) {
        const body = randomBytes(64);
        bodies.set(key, body);
        await store.put(key, body, {
          contentType: 'application/x-test',
          metadata: { owner: 'ops' },
          cacheControl: 'max-age=60',
        });
      }
      // More than one listing page: 1,000 keys per page.
      await runPool(
        Array.from({ length: 1005 }, (_, i) => i),
        8,
        async (i) => {
          await store.put(`many/${String(i).padStart(4, '0')}`, `${i}`);
        },
      );
    }, 60_000);

    afterAll(async () => {
      await emu?.stop();
    });

    it('lists every key exactly as the SDK does, across pages', async () => {
      const ours: unknown[] = [];
      for await (const o of store.list()) ours.push(o);
      const sdk: unknown[] = [];
      let token: string | undefined;
      do {
        const page = await emu.s3.send(
          new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          sdk.push({ key: o.Key, size: o.Size, etag: o.ETag, lastModifiedMs: o.LastModified?.getTime() });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      expect(ours).toHaveLength(AWKWARD_KEYS.length + 1005);
      expect(ours).toEqual(sdk);
      const some: string[] = [];
      for await (const o of store.list('many/100')) some.push(o.key);
      expect(some).toEqual(['many/1000', 'many/1001', 'many/1002', 'many/1003', 'many/1004']);
    });

    it('reads each awkward key byte for byte, with the headers GetObject returns', async () => {
      for (const key of AWKWARD_KEYS) {
        const ours = await store.read(key);
        const sdk = await emu.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        expect(await ours.body.bytes(), key).toEqual(bodies.get(key));
        await sdk.Body?.transformToByteArray();
        expect(ours.head, key).toMatchObject({
          key,
          size: sdk.ContentLength,
          etag: sdk.ETag,
          lastModifiedMs: sdk.LastModified?.getTime(),
          contentType: sdk.ContentType,
          metadata: sdk.Metadata,
          cacheControl: sdk.CacheControl,
        });
        expect(ours.head.metadata).toEqual({ owner: 'ops' });
        expect(await store.head(key), key).toMatchObject({
          size: 64,
          etag: sdk.ETag,
          metadata: { owner: 'ops' },
        });
      }
    });

    it('reads a byte range', async () => {
      const key = 'plus+sign.txt';
      const { body, head } = await store.read(key, { range: { start: 10, end: 19 } });
      expect(await body.bytes()).toEqual(bodies.get(key)?.subarray(10, 20));
      expect(head.size).toBe(10);
    });

    it('fails a missing key with the error the SDK would give, in one line', async () => {
      const err = await store.read('no/such/key').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      expect(describeError(err)).not.toContain('\n');
    });

    if (kind === 'moto')
      // fauxqs ignores conditional writes (the fault suite puts a shim in front of it); moto honours them.
      it('writes with ifMatch only over the ETag it names, and with ifAbsent only where nothing is', async () => {
        const key = uniqueName('cas');
        expect(await store.put(key, 'one', { ifAbsent: true })).toBe(true);
        expect(await store.put(key, 'two', { ifAbsent: true })).toBe(false);
        const first = (await store.head(key))!.etag;
        expect(await store.put(key, 'three', { ifMatch: first })).toBe(true);
        expect(await store.put(key, 'four', { ifMatch: first })).toBe(false);
        expect((await store.get(key)).toString()).toBe('three');
      });

    it('fails a missing bucket as a missing bucket', async () => {
      const other = new S3Store(emu.s3, uniqueName('gone'));
      try {
        const err = await (async () => {
          for await (const _ of other.list()) {
            // nothing to list
          }
        })().catch((e: unknown) => e);
        expect(err).toMatchObject({ name: 'NoSuchBucket' });
        expect(describeError(err, { endpoint: emu.endpoint })).toMatch(/does not exist/);
      } finally {
        other.close();
      }
    });
  });
}

describe('S3Store on a dead endpoint', () => {
  it('reports a connection error after its retries, not a hang', async () => {
    const emu = await startEmbedded();
    const reader = new S3Store(emu.s3, 'any');
    await emu.server.stop();
    const err = await reader.read('k').catch((e: unknown) => e);
    await emu.stop().catch(() => {});
    expect(describeError(err, { endpoint: emu.endpoint })).toMatch(/cannot reach/);
  });
});
