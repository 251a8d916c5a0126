/** `flotilla restore` as a user runs it: what it prints, renaming the bucket, and refusing bad flags. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { exportDeployment } from '../../../scripts/sync/export.js';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded, uniqueName } from '../../support/emulators.js';
import { runCli } from '../sync/fixtures.js';

describe('flotilla restore', () => {
  let source: Emulator;
  let target: Emulator;
  let dir: string;
  let dep: Awaited<ReturnType<typeof freshDeployment>>;

  beforeAll(async () => {
    [source, target] = await Promise.all([startEmbedded(), startEmbedded()]);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-restore-'));
    dep = await freshDeployment(source);
    await dep.store.put('a/b.txt', 'bee', { contentType: 'text/plain', metadata: { k: 'v' } });
    await exportDeployment({
      source: { endpoint: source.config, sqs: source.sqs, s3: source.s3 },
      dir,
      bucket: dep.bucket,
      queueUrl: dep.queueUrl,
      progress: { write: () => true } as unknown as NodeJS.WritableStream,
      quiet: true,
    });
  });

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('restores under another bucket name, printing the queues and bucket it made, and verifies', async () => {
    const renamed = uniqueName('renamed');
    const r = await runCli(['restore', '--from', dir, '--endpoint', target.endpoint, '--bucket', renamed]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`queue ${dep.name}-jobs http`);
    expect(r.stdout).toContain(`bucket ${renamed}`);
    expect(r.stderr).toMatch(/restored 1 objects .*each verified/);
    expect((await new S3Store(target.s3, renamed).get('a/b.txt')).toString()).toBe('bee');

    const again = await runCli([
      'restore',
      '--from',
      dir,
      '--endpoint',
      target.endpoint,
      '--bucket',
      renamed,
    ]);
    expect(again.stderr).toMatch(/restored 0 objects .*1 already there/);

    const v = await runCli(['verify', dir, '--against', target.endpoint, '--bucket', renamed]);
    expect(v.code, v.stdout).toBe(0);
  });

  it('plans on --dry-run, printing each upload to stdout, and creates nothing at the target', async () => {
    const fresh = uniqueName('planned');
    const r = await runCli([
      'restore',
      '--from',
      dir,
      '--endpoint',
      target.endpoint,
      '--bucket',
      fresh,
      '--dry-run',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('copy   "a/b.txt" (3 bytes)\n');
    expect(r.stderr).toMatch(/dry run: 1 upload\(s\) planned, 0 already there; nothing was changed/);
    await expect(target.s3.send(new HeadBucketCommand({ Bucket: fresh }))).rejects.toThrow();
  });

  it('refuses --deploy-stack with --bucket, and a missing --from, in one line', async () => {
    const both = await runCli(['restore', '--from', dir, '--deploy-stack', 's', '--bucket', 'x-y-z']);
    expect(both.code).toBe(2);
    expect(both.stderr.trim()).toBe(
      'flotilla restore: --deploy-stack names the bucket itself; drop --bucket and --data-only',
    );
    const none = await runCli(['restore', '--endpoint', target.endpoint]);
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe('flotilla restore: restore needs --from DIR; see --help');
  });
});
