/**
 * docs/protocol.md's AWS CLI walkthrough, run as written: its shell blocks go through bash with
 * the AWS CLI against the embedded emulator, while a real `flotilla worker` serves the queue.
 * If the docs or the protocol change so that the commands stop working, this fails.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ErrorRecordSchema, ResultRecordSchema } from '../../core/envelope.js';
import { BIN } from '../support/cli.js';
import { freshDeployment } from '../support/deployment.js';
import { type Emulator, startEmbedded } from '../support/emulators.js';

const DOC = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'protocol.md'), 'utf8');

/** The ```sh blocks from "run as written" to the next section: the ones a reader types. */
function documentedCommands(): string {
  const start = DOC.indexOf('are run as written');
  const end = DOC.indexOf('\n## ', start);
  expect(start, 'docs/protocol.md lost its tested walkthrough').toBeGreaterThan(0);
  return [...DOC.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

it('sends jobs with aws sqs send-message and reads results with aws s3 cp, as docs/protocol.md shows', async () => {
  const d = await freshDeployment(emu);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: mkdtempSync(join(tmpdir(), 'flotilla-protocol-home-')), // no ~/.aws of the machine's
    AWS_ENDPOINT_URL: emu.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_EC2_METADATA_DISABLED: 'true',
    FLOTILLA_QUEUE_URL: d.queueUrl,
    FLOTILLA_BUCKET: d.bucket,
  };
  const worker = spawn(process.execPath, [BIN, 'worker', '--wait-seconds', '1', '--log-level', 'warn'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let workerErr = '';
  worker.stderr.on('data', (b: Buffer) => {
    workerErr += b.toString();
  });
  const cwd = mkdtempSync(join(tmpdir(), 'flotilla-protocol-'));
  try {
    const script = `set -euo pipefail\n${documentedCommands()}`;
    const { stdout } = await promisify(execFile)('bash', ['-c', script], {
      cwd,
      env,
      maxBuffer: 16 << 20,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`the documented commands failed: ${err.stderr ?? err.message}\nworker: ${workerErr}`);
    });

    const hello = ResultRecordSchema.parse(
      JSON.parse((await d.store.get('results/cli-demo/hello-1.json')).toString()),
    );
    expect(hello.result).toEqual({ greeting: 'hello' });
    expect(stdout).toContain(JSON.stringify(hello)); // what `aws s3 cp ... -` printed

    const big = JSON.parse(readFileSync(join(cwd, 'big-1.result.json'), 'utf8'));
    expect(ResultRecordSchema.parse(big).result).toEqual({ text: 'a'.repeat(300_000) });
    expect(existsSync(join(cwd, 'big-1.json'))).toBe(true);

    const bad = ErrorRecordSchema.parse(
      JSON.parse((await d.store.get('errors/cli-demo/bad-1.json')).toString()),
    );
    expect(bad).toMatchObject({ jobId: 'bad-1', final: true, error: { name: 'InvalidEnvelopeError' } });
    expect(stdout).toContain(bad.error.message);
    expect(DOC, 'the error record shown in docs/protocol.md').toContain(JSON.stringify(bad.error.message));
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode !== null ? r(null) : worker.once('exit', r)));
  }
}, 180_000);
