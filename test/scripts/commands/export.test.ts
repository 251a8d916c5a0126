/**
 * The `flotilla export` command as a user runs it: an export killed with SIGKILL resumes and
 * completes, and bad input gives one line and a non-zero exit with nothing presented as complete.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../../core/adapters/s3-store.js';
import { eventually } from '../../support/deployment.js';
import { type Emulator, startEmbedded, uniqueName } from '../../support/emulators.js';
import { BIN, runCli } from '../sync/fixtures.js';

describe('flotilla export', () => {
  let emu: Emulator;
  let root: string;
  let bucket: string;
  let store: S3Store;
  const COUNT = 500;

  beforeAll(async () => {
    emu = await startEmbedded();
    root = await mkdtemp(join(tmpdir(), 'flotilla-export-'));
    bucket = uniqueName('exp');
    await emu.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    store = new S3Store(emu.s3, bucket);
    const keys = Array.from({ length: COUNT }, (_, i) => `jobs/${String(i).padStart(4, '0')}.json`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Buffer.alloc(8 * 1024, k))));
    }
  });

  const exportArgs = (dir: string, ...more: string[]) => [
    'export',
    '--endpoint',
    emu.endpoint,
    '--bucket',
    bucket,
    '--to',
    dir,
    ...more,
  ];

  afterAll(async () => {
    if (store) {
      const keys: string[] = [];
      for await (const o of store.list()) keys.push(o.key);
      await store.deleteMany(keys);
      await emu.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    }
    await emu?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('resumes an export killed with SIGKILL and fetches little more than what was left', async () => {
    const dir = join(root, 'killed');
    const args = exportArgs(dir, '--concurrency', '4');
    const child = spawn(process.execPath, [BIN, ...args], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        NODE_NO_WARNINGS: '1',
      },
      stdio: 'ignore',
    });
    // A file named like a partial download but belonging to an object, and a partial that a
    // killed run left behind: the resumed run keeps the first and removes the second.
    const lookalike = 'jobs/.flotilla-partial-1-0123abcd-1';
    await store.put(lookalike, 'an object, not a partial');
    try {
      const journal = join(dir, '.flotilla-journal.jsonl');
      const doneBefore = await eventually(
        async () => {
          const n = existsSync(journal) ? (await readFile(journal, 'utf8')).split('\n').length - 1 : 0;
          return n >= 80 ? n : 0;
        },
        30_000,
        5,
      );
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const stray = join(dir, 'objects', bucket, 'jobs', '.flotilla-partial-999-deadbeef-7');
      await writeFile(stray, 'half a file');
      const interrupted = JSON.parse(await readFile(join(dir, 'flotilla.json'), 'utf8'));
      expect(interrupted.state).toBe('in-progress');
      const refused = await runCli(['restore', '--from', dir, '--endpoint', emu.endpoint]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/did not finish/);

      const resumed = await runCli(args);
      expect(resumed.code, resumed.stderr).toBe(0);
      const fetched = Number(/fetched (\d+)/.exec(resumed.stderr)?.[1]);
      expect(fetched).toBeLessThanOrEqual(COUNT + 1 - doneBefore + 4 * 2);
      expect(resumed.stderr).toMatch(new RegExp(`skipped ${COUNT + 1 - fetched} unchanged`));
      expect(JSON.parse(await readFile(join(dir, 'flotilla.json'), 'utf8')).state).toBe('complete');
      const verified = await runCli(['verify', dir]);
      expect(verified.code, verified.stdout).toBe(0);
      expect((await readFile(join(dir, 'manifest.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(
        COUNT + 1,
      );
      const left = (await readdir(dir, { recursive: true })).filter((f) => f.includes('.flotilla-partial-'));
      expect(left).toEqual([`objects/${bucket}/${lookalike}`]);
    } finally {
      await store.delete(lookalike);
    }
  });

  it('plans on --dry-run without writing: every object into a new folder, nothing once it is up to date', async () => {
    const dir = join(root, 'planned');
    const plan = await runCli(exportArgs(dir, '--dry-run'));
    expect(plan.code, plan.stderr).toBe(0);
    const lines = plan.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(COUNT);
    expect(lines[0]).toBe('copy   "jobs/0000.json" (8192 bytes)');
    expect(plan.stderr).toMatch(
      new RegExp(`dry run: ${COUNT} change\\(s\\) planned, 0 unchanged; nothing was changed`),
    );
    expect(existsSync(dir)).toBe(false);

    expect((await runCli(exportArgs(dir))).code).toBe(0);
    await store.put('jobs/0001.json', 'changed');
    const again = await runCli(exportArgs(dir, '--dry-run', '--delete'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('update "jobs/0001.json" (7 bytes)\n');
    expect(again.stderr).toMatch(new RegExp(`1 change\\(s\\) planned, ${COUNT - 1} unchanged`));
    expect((await readFile(join(dir, 'objects', bucket, 'jobs', '0001.json'))).length).toBe(8192);
    await store.put('jobs/0001.json', Buffer.alloc(8 * 1024, 'jobs/0001.json'));
  });

  it('fails an object whose transfer keeps breaking: one line naming it, a non-zero exit, no file; the next run completes', async () => {
    const cut = 'jobs/0007.json';
    const front = await cuttingFront(emu.endpoint, `/${bucket}/${cut}`);
    const dir = join(root, 'cut');
    try {
      const broken = await runCli(exportArgs(dir).map((a) => (a === emu.endpoint ? front.endpoint : a)));
      expect(broken.code).not.toBe(0);
      const failed = broken.stderr.split('\n').filter((l) => l.startsWith('failed:'));
      expect(failed).toEqual([
        expect.stringMatching(new RegExp(`^failed: "${cut}": .*the transfer broke after 4096 of 8192 bytes`)),
      ]);
      expect(front.cuts()).toBeGreaterThanOrEqual(1);
      expect(existsSync(join(dir, 'objects', bucket, cut))).toBe(false);
      expect(JSON.parse(await readFile(join(dir, 'flotilla.json'), 'utf8')).state).toBe('in-progress');
      const journal = await readFile(join(dir, '.flotilla-journal.jsonl'), 'utf8');
      expect(journal).not.toContain(JSON.stringify(cut));

      front.heal();
      const healed = await runCli(exportArgs(dir).map((a) => (a === emu.endpoint ? front.endpoint : a)));
      expect(healed.code, healed.stderr).toBe(0);
      expect(healed.stderr).toMatch(/fetched 1 /);
      expect((await readFile(join(dir, 'objects', bucket, cut))).equals(Buffer.alloc(8 * 1024, cut))).toBe(
        true,
      );
      expect((await runCli(['verify', dir])).code).toBe(0);
    } finally {
      await front.close();
    }
  });

  it('says in one line that the bucket does not exist, and writes no description', async () => {
    const dir = join(root, 'nobucket');
    const r = await runCli([
      'export',
      '--endpoint',
      emu.endpoint,
      '--bucket',
      'no-such-bucket-here',
      '--to',
      dir,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/bucket 'no-such-bucket-here' does not exist/),
    ]);
    expect(existsSync(join(dir, 'flotilla.json'))).toBe(false);
  });

  it('says in one line that the endpoint cannot be reached', async () => {
    const r = await runCli([
      'export',
      '--endpoint',
      'http://127.0.0.1:9',
      '--bucket',
      bucket,
      '--to',
      join(root, 'x'),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/cannot reach http:\/\/127\.0\.0\.1:9/),
    ]);
  });

  it('says in one line that credentials are missing', async () => {
    const r = await runCli(['export', '--bucket', bucket, '--to', join(root, 'y'), '--region', 'us-east-1'], {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: 'flotilla-no-such-profile',
      AWS_CONFIG_FILE: join(root, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(root, 'none'),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/credentials|profile/i);
  });

  it('refuses a folder written by a newer format, and a non-folder, in one line each', async () => {
    const newer = join(root, 'newer');
    await mkdir(newer);
    await writeFile(join(newer, 'flotilla.json'), JSON.stringify({ formatVersion: 99, state: 'complete' }));
    for (const args of [
      ['restore', '--from', newer, '--endpoint', emu.endpoint],
      ['verify', newer],
      ['export', '--endpoint', emu.endpoint, '--bucket', bucket, '--to', newer],
    ]) {
      const r = await runCli(args);
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/format 99.*upgrade Flotilla/)]);
    }
    const file = join(root, 'a-file');
    await writeFile(file, 'not a folder');
    const r = await runCli(['restore', '--from', file, '--endpoint', emu.endpoint]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/is not a folder/);
  });
});

/**
 * An HTTP front for `endpoint` that passes every request through, except GETs of `path`: those
 * get the object's headers (its full Content-Length) and half its body, then the connection is
 * cut. heal() lets them through too.
 */
async function cuttingFront(endpoint: string, path: string) {
  let cutting = true;
  let cuts = 0;
  const server = createServer((req, res) => {
    const up = request(`${endpoint}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (cutting && req.method === 'GET' && req.url?.split('?')[0] === path) {
          cuts++;
          res.write(body.subarray(0, body.length >> 1));
          setTimeout(() => res.socket?.destroy(), 10);
        } else res.end(body);
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    cuts: () => cuts,
    heal: () => {
      cutting = false;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}
