/**
 * The worker's lean S3 calls over the wire, on fauxqs and on moto: a HEAD answers as the SDK's
 * HeadObject does, a PUT stores what PutObject would (keys with awkward characters included),
 * a conditional PUT keeps the first result where the endpoint honours If-None-Match (moto, like
 * S3; fauxqs ignores it), and a missing bucket fails as a missing bucket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../../core/errors.js';
import { HttpS3Store, workerStore } from '../../../core/transport/s3-lean.js';
import { HOSTILE_KEYS } from '../../scripts/sync/fixtures.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, startMoto } from '../../support/emulators.js';

const KEYS = [
  'results/b1/j000001.json',
  'plus+sign and space.json',
  'ünïcødé/名前.json',
  'percent%2Fslash.json',
  ...HOSTILE_KEYS.filter((k) => !k.includes('\u0000')),
];

for (const kind of ['fauxqs', 'moto'] as const) {
  describe(`workerStore against ${kind}`, () => {
    let emu: Emulator;
    let dep: Awaited<ReturnType<typeof freshDeployment>>;
    let lean: HttpS3Store;

    beforeAll(async () => {
      emu = kind === 'fauxqs' ? await startEmbedded() : await startMoto();
      dep = await freshDeployment(emu);
      const s = await workerStore(emu.s3, dep.store.bucket);
      if (!(s instanceof HttpS3Store)) throw new Error('expected the lean store for a SigV4 endpoint');
      lean = s;
    }, 60_000);

    afterAll(async () => {
      lean?.close();
      await emu?.stop();
    });

    it('puts what PutObject would, and heads as HeadObject does, for awkward keys', async () => {
      for (const key of KEYS) {
        expect(await lean.head(key), key).toBeUndefined();
        const body = JSON.stringify({ key, note: 'ünïcødé ✓' });
        expect(
          await lean.put(key, body, { contentType: 'application/json', metadata: { worker: 'w-1' } }),
        ).toBe(true);
        expect((await dep.store.get(key)).toString(), key).toBe(body);
        const ours = await lean.head(key);
        const sdk = await dep.store.head(key);
        expect(ours, key).toEqual(sdk);
        expect(ours?.size).toBe(Buffer.byteLength(body));
        expect(ours?.contentType).toBe('application/json');
        expect(ours?.metadata).toEqual({ worker: 'w-1' });
      }
    });

    it('writes a result once with ifAbsent where the endpoint honours it', async () => {
      const key = 'results/b1/once.json';
      expect(await lean.put(key, '{"first":true}', { ifAbsent: true })).toBe(true);
      const second = await lean.put(key, '{"first":false}', { ifAbsent: true });
      const stored = (await dep.store.get(key)).toString();
      if (kind === 'moto') {
        expect(second).toBe(false);
        expect(stored).toBe('{"first":true}');
      } else {
        // fauxqs overwrites: correctness must not rest on it (the worker also checks with a HEAD).
        expect(stored).toBe(second ? '{"first":false}' : '{"first":true}');
      }
    });

    it('fails on a missing bucket as a missing bucket, in one line', async () => {
      const gone = await workerStore(emu.s3, `${dep.store.bucket}-missing`);
      const err = await gone.put('k.json', '{}').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
      expect(classifyError(err)).toBe('missing');
      (gone as HttpS3Store).close();
    });
  });
}
