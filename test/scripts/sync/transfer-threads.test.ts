/**
 * Transfer threads, started from the TypeScript sources as tests and FLOTILLA_FROM_SOURCE=1 run
 * them: each fetches whole and ranged objects into the folder, and a failure comes back as the
 * error the main thread would have seen (name, HTTP status), so the export reports it the same.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanReader } from '../../../scripts/sync/object-reader.js';
import type { HttpObjectReader } from '../../../scripts/sync/s3-http.js';
import { TransferThreads } from '../../../scripts/sync/transfer-threads.js';
import { describeError } from '../../../workers/core/errors.js';
import { S3Store } from '../../../workers/core/ports.js';
import { type Emulator, startEmbedded, uniqueName } from '../../support/emulators.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('TransferThreads', () => {
  let emu: Emulator;
  let dir: string;
  let store: S3Store;
  let reader: HttpObjectReader;
  let threads: TransferThreads;
  let bytesSeen = 0;
  const small = randomBytes(3000);
  const large = randomBytes(3 * 1024 * 1024 + 17);

  beforeAll(async () => {
    emu = await startEmbedded();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-threads-'));
    const bucket = uniqueName('threads');
    await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    store = new S3Store(emu.s3, bucket);
    await store.put('a/small.bin', small);
    await store.upload('b/large.bin', large, { partSizeBytes: 5 * 1024 * 1024 });
    reader = (await leanReader(emu.s3, bucket)) as HttpObjectReader;
    threads = TransferThreads.start(
      2,
      {
        base: reader.base.href,
        region: reader.region,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        dir,
        maxSockets: 8,
        // Ranged GETs from 1 MiB, so the large object arrives in four pieces.
        download: { largeObjectBytes: 1024 * 1024, partBytes: 1024 * 1024, partConcurrency: 2 },
      },
      (n) => {
        bytesSeen += n;
      },
    );
  });

  afterAll(async () => {
    await threads?.close();
    reader?.close();
    await emu?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const listed = async (key: string) => {
    for await (const o of reader.list(key)) if (o.key === key) return o;
    throw new Error(`${key} not listed`);
  };

  it('fetches whole and ranged objects into the folder, with their checksums', async () => {
    const [a, b] = await Promise.all([
      threads.fetch(await listed('a/small.bin'), 'objects/x/a/small.bin'),
      threads.fetch(await listed('b/large.bin'), 'objects/x/b/large.bin'),
    ]);
    // Compared by digest: a deep comparison of 3 MiB buffers takes vitest half a minute.
    expect(sha256(await readFile(join(dir, 'objects/x/a/small.bin')))).toBe(sha256(small));
    expect(sha256(await readFile(join(dir, 'objects/x/b/large.bin')))).toBe(sha256(large));
    expect(a).toMatchObject({ size: small.length, sha256: sha256(small) });
    expect(b).toMatchObject({ size: large.length, sha256: sha256(large) });
    expect(bytesSeen).toBe(small.length + large.length);
  });

  it('hands back a failed GET as the error the main thread would have had', async () => {
    const gone = { key: 'no/such.bin', size: 5, etag: '"x"', lastModifiedMs: 0 };
    const err = await threads.fetch(gone, 'objects/x/no/such.bin').catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    expect(describeError(err)).toMatch(/does not exist|specified key/);
  });

  it('refuses a path outside the folder in the thread too', async () => {
    const err = await threads
      .fetch(await listed('a/small.bin'), '../outside.bin')
      .catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/outside the export folder/);
  });
});
