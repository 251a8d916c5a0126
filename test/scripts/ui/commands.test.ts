/** `flotilla ui` and `flotilla cancel` as a user runs them: bad input, and binding off loopback. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, flotilla } from '../../support/cli.js';
import { freshDeployment } from '../../support/deployment.js';
import { startEmbedded } from '../../support/emulators.js';

let emu: Awaited<ReturnType<typeof startEmbedded>>;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => {
  await emu?.stop();
});

describe('flotilla cancel', () => {
  it('says what is missing or wrong in one line and exits 2', async () => {
    const none = await flotilla(['cancel']);
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe('flotilla cancel: give the batch id: flotilla cancel BATCH [JOB...]');
    const bad = await flotilla(['cancel', 'b1', '../etc'], { FLOTILLA_BUCKET: 'x' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/job id must/);
  });
});

describe('flotilla ui', () => {
  it('needs a queue and a bucket', async () => {
    const r = await flotilla(['ui'], { AWS_ENDPOINT_URL: emu.endpoint });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no job queue given/);
  });

  it('warns and asks for a token when bound off loopback', async () => {
    const d = await freshDeployment(emu);
    const child = spawn(process.execPath, [BIN, 'ui', '--host', '0.0.0.0', '--port', '0'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: emu.endpoint,
        FLOTILLA_QUEUE_URL: d.queueUrl,
        FLOTILLA_BUCKET: d.bucket,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => resolve(b.toString().trim()));
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      expect(stderr).toMatch(/warning: binding to 0\.0\.0\.0/);
      const token = new URL(url).searchParams.get('token');
      expect(token?.length).toBeGreaterThanOrEqual(20);
      const api = new URL('/api/overview', url);
      expect((await fetch(api)).status).toBe(401);
      expect((await fetch(api, { headers: { 'x-flotilla-token': token! } })).status).toBe(200);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});
