/** `flotilla verify` as a user runs it: exit 0 on a good export, 1 with the damage listed otherwise. */
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { type Emulator, startEmbedded, uniqueName } from '../../support/emulators.js';
import { runCli } from '../sync/fixtures.js';

describe('flotilla verify', () => {
  let emu: Emulator;
  let dir: string;
  let bucket: string;

  beforeAll(async () => {
    emu = await startEmbedded();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-verify-'));
    bucket = uniqueName('ver');
    await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3Store(emu.s3, bucket);
    await store.put('a.txt', 'alpha');
    await store.put('b/c.txt', 'charlie');
    await store.put('../up.txt', 'hostile');
    await exportDeployment({
      source: { endpoint: emu.config, sqs: emu.sqs, s3: emu.s3 },
      dir,
      bucket,
      progress: { write: () => true } as unknown as NodeJS.WritableStream,
      quiet: true,
    });
  });

  afterAll(async () => {
    await emu?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes an intact export', async () => {
    const r = await runCli(['verify', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/verified 3 objects: all match/);
  });

  it('exits 1 and names the changed and the missing file', async () => {
    const changed = join(dir, 'objects', bucket, 'a.txt');
    await writeFile(changed, 'alphA');
    await unlink(join(dir, 'objects', bucket, 'b', 'c.txt'));
    const r = await runCli(['verify', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`changed +objects/${bucket}/a.txt: SHA-256 differs`));
    expect(r.stdout).toMatch(new RegExp(`missing +objects/${bucket}/b/c.txt`));
    expect(r.stderr).toMatch(/2 missing or changed/);
    expect(await readFile(changed, 'utf8')).toBe('alphA');
  });

  it('checks a live target with --against', async () => {
    const r = await runCli(['verify', dir, '--against', emu.endpoint]);
    // The source is intact: the export folder was damaged, not the bucket.
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const gone = await runCli(['verify', dir, '--against', emu.endpoint, '--bucket', uniqueName('nope')]);
    expect(gone.code).not.toBe(0);
  });
});
