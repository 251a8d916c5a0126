/**
 * The lean S3 reader behind export and mirror: its signatures are the SDK signer's, its listing
 * reads what S3 sends (entities, url-encoded keys, continuation), and over the wire it returns what
 * GetObjectCommand returns, byte for byte and header for header, on fauxqs and on moto (which,
 * unlike fauxqs, honours encoding-type=url).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../../core/errors.js';
import { S3Store } from '../../../core/ports.js';
import { type Body, type HttpObjectReader, parseListPage } from '../../../core/transport/s3-http.js';
import { leanReader, objectReader } from '../../../scripts/sync/object-reader.js';
import { runPool } from '../../../scripts/sync/pool.js';
import { type Emulator, startEmbedded, startMoto, uniqueName } from '../../support/emulators.js';
import { HOSTILE_KEYS } from './fixtures.js';

async function bytesOf(body: Readable | Body): Promise<Buffer> {
  if ('bytes' in body) return body.bytes();
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('parseListPage', () => {
  const page = (contents: string, extra = '') =>
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>${extra}${contents}</ListBucketResult>`;
  const entry = (key: string, size = 3) =>
    `<Contents><Key>${key}</Key><LastModified>2026-11-25T10:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;

  it('reads keys, sizes, ETags and times, decoding XML entities', () => {
    const { objects, next } = parseListPage(
      page(
        entry('a&amp;b &lt;c&gt; &#233;&#x1F600;') + entry('plain', 10),
        '<IsTruncated>false</IsTruncated>',
      ),
    );
    expect(objects).toEqual([
      { key: 'a&b <c> é😀', size: 3, etag: '"e1"', lastModifiedMs: Date.parse('2026-11-25T10:00:00.000Z') },
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
    expect(() => parseListPage('<ListBucketResult><Contents><Key>a</Key>')).toThrow(/truncated/);
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
  describe(`HttpObjectReader against ${kind}`, () => {
    let emu: Emulator;
    let bucket: string;
    let store: S3Store;
    let reader: HttpObjectReader;
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
      const fast = await leanReader(emu.s3, bucket);
      if (!fast) throw new Error('expected the lean reader for a SigV4 endpoint');
      reader = fast;
    }, 60_000);

    afterAll(async () => {
      reader?.close();
      await emu?.stop();
    });

    it('lists every key exactly as the SDK does, across pages', async () => {
      const ours: unknown[] = [];
      for await (const o of reader.list()) ours.push(o);
      const sdk: unknown[] = [];
      for await (const o of store.list()) sdk.push(o);
      expect(ours).toHaveLength(AWKWARD_KEYS.length + 1005);
      expect(ours).toEqual(sdk);
      const some: string[] = [];
      for await (const o of reader.list('many/100')) some.push(o.key);
      expect(some).toEqual(['many/1000', 'many/1001', 'many/1002', 'many/1003', 'many/1004']);
    });

    it('reads each awkward key byte for byte, with the headers GetObject returns', async () => {
      for (const key of AWKWARD_KEYS) {
        const ours = await reader.read(key);
        const sdk = await store.read(key);
        expect(await bytesOf(ours.body), key).toEqual(bodies.get(key));
        await bytesOf(sdk.body);
        expect(ours.head, key).toEqual(sdk.head);
        expect(ours.head.metadata).toEqual({ owner: 'ops' });
      }
    });

    it('reads a byte range', async () => {
      const key = 'plus+sign.txt';
      const { body, head } = await reader.read(key, { range: { start: 10, end: 19 } });
      expect(await bytesOf(body)).toEqual(bodies.get(key)?.subarray(10, 20));
      expect(head.size).toBe(10);
    });

    it('fails a missing key with the error the SDK would give, in one line', async () => {
      const err = await reader.read('no/such/key').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      expect(describeError(err)).not.toContain('\n');
    });

    it('fails a missing bucket as a missing bucket', async () => {
      const other = await objectReader(emu.s3, uniqueName('gone'));
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

describe('HttpObjectReader on a dead endpoint', () => {
  it('reports a connection error after its retries, not a hang', async () => {
    const emu = await startEmbedded();
    const reader = await objectReader(emu.s3, 'any');
    await emu.stop();
    const err = await reader.read('k').catch((e: unknown) => e);
    reader.close();
    expect(describeError(err, { endpoint: emu.endpoint })).toMatch(/cannot reach/);
  });
});
