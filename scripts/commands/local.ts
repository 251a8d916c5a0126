/** flotilla local: create a deployment's queues and bucket on any endpoint, or serve one here. */

import { EMULATOR_CREDENTIALS, s3Client, sqsClient } from '../../core/aws.js';
import { UsageError } from '../../core/errors.js';
import { resourceNames } from '../../infra/definitions.js';
import { startEmbeddedEmulator } from '../emulator.js';
import { provisionDeployment } from '../provision.js';
import { resolveTarget } from '../target.js';
import { startDashboard } from '../ui/start.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla local [--name NAME] (--endpoint URL | --serve [--port N])

Create the job queue, its DLQ and the data bucket from Flotilla's definitions (the same the CDK
stack uses), straight through the SQS and S3 APIs.
  --name NAME     deployment name; resources are NAME-jobs, NAME-jobs-dlq, NAME-data (default flotilla)
  --endpoint URL  create them on this endpoint (LocalStack, moto, MinIO + ElasticMQ...)
  --serve         start the embedded emulator here, create them there, and keep serving until Ctrl-C,
                  with a dashboard of the deployment on 127.0.0.1 (its address is printed)
  --port N        with --serve (default 4566)`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, help } = parseCommand<{ name?: string; serve?: boolean; port?: string }>(
    argv,
    {
      options: {
        name: { type: 'string' },
        endpoint: { type: 'string' },
        serve: { type: 'boolean' },
        port: { type: 'string' },
      },
      usage: USAGE,
      where: ['region', 'profile'],
    },
    out,
  );
  if (help) return 0;
  const name = values.name ?? 'flotilla';
  try {
    resourceNames(name);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.serve) {
    if (values.endpoint) throw new UsageError('--serve starts its own endpoint; drop --endpoint');
    const port = intOption(values.port, 'port', { min: 0, max: 65_535 }) ?? 4566;
    const emu = await startEmbeddedEmulator(port);
    const cfg = { endpoint: emu.endpoint, region: 'us-east-1', credentials: { ...EMULATOR_CREDENTIALS } };
    const p = await provisionDeployment({ sqs: sqsClient(cfg), s3: s3Client(cfg) }, name);
    out.write(
      [
        `export AWS_ENDPOINT_URL=${emu.endpoint}`,
        'export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test',
        `export FLOTILLA_QUEUE_URL=${p.queueUrl}`,
        `export FLOTILLA_BUCKET=${p.bucket}`,
        '',
      ].join('\n'),
    );
    const clients = { sqs: sqsClient(cfg), s3: s3Client(cfg) };
    const ui = await startDashboard({
      ...clients,
      queueUrl: p.queueUrl,
      dlqUrl: p.dlqUrl,
      queues: p.queues,
      bucket: p.bucket,
    });
    err.write(
      `serving SQS and S3 on ${emu.endpoint} (in memory) until Ctrl-C; the lines above configure a shell\n` +
        `dashboard: ${ui.url}\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await ui.stop();
    clients.sqs.destroy();
    clients.s3.destroy();
    await emu.stop();
    return 0;
  }
  if (!values.endpoint && !env.AWS_ENDPOINT_URL) {
    throw new UsageError(
      'give --endpoint URL (or --serve); on AWS itself, deploy the stacks with cdk instead',
    );
  }
  const target = await resolveTarget(values, env);
  const p = await provisionDeployment({ sqs: target.sqs, s3: target.s3 }, name);
  out.write(`FLOTILLA_QUEUE_URL=${p.queueUrl}\nFLOTILLA_DLQ_URL=${p.dlqUrl}\nFLOTILLA_BUCKET=${p.bucket}\n`);
  if (!p.versioning)
    err.write('note: this endpoint does not support bucket versioning; the bucket is unversioned\n');
  return 0;
};
