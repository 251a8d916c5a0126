/**
 * Restore where CloudFormation exists: the data-plane stack (infra/stacks/data-plane-stack.ts),
 * built from the exported settings, synthesized here without bootstrap and created through the
 * CloudFormation API. The data then goes into the queues and bucket the stack outputs name.
 * Loads aws-cdk-lib, so the restore command imports this module only when asked.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStackCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import { App, BootstraplessSynthesizer } from 'aws-cdk-lib';
import { UsageError } from '../../core/errors.js';
import { parseRedrivePolicy } from '../../core/ports/queue.js';
import type { NamedQueue } from '../../core/queue-list.js';
import {
  type BucketDefinition,
  type DeploymentDefinition,
  type QueueDefinition,
  resolveDeployment,
} from '../../infra/definitions.js';
import { DataPlaneStack } from '../../infra/stacks/data-plane-stack.js';
import { cloudFormationClient, stackOutputs } from '../target.js';
import type { LiveSide } from './describe.js';
import { type Description, requireCompleteExport } from './folder.js';
import { type RestoreOptions, type RestoreResult, restoreDeployment } from './restore.js';

const CDK_JSON = join(import.meta.dirname, '..', '..', 'cdk.json');

/** The exported queue and bucket settings as a deployment definition (defaults for the rest). */
export function deploymentFromDescription(d: Description): DeploymentDefinition {
  // The default job queue's settings (exports from before there were several name none).
  const isDefault = (q: Description['queues'][number]) => (q.jobQueue ?? 'default') === 'default';
  const jobs = d.queues.find((q) => q.role === 'jobs' && isDefault(q))?.attributes ?? {};
  const dlq = d.queues.find((q) => q.role === 'dlq' && isDefault(q))?.attributes ?? {};
  const num = (v: string | undefined) =>
    v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
  const queue: Partial<{ -readonly [K in keyof QueueDefinition]: QueueDefinition[K] }> = {};
  const set = <K extends keyof QueueDefinition>(k: K, v: number | undefined) => {
    if (v !== undefined) queue[k] = v;
  };
  set('visibilityTimeoutSeconds', num(jobs.VisibilityTimeout));
  set('retentionSeconds', num(jobs.MessageRetentionPeriod));
  set('receiveWaitTimeSeconds', num(jobs.ReceiveMessageWaitTimeSeconds));
  set('maximumMessageSizeBytes', num(jobs.MaximumMessageSize));
  set('dlqRetentionSeconds', num(dlq.MessageRetentionPeriod));
  set('maxReceiveCount', parseRedrivePolicy(jobs.RedrivePolicy)?.maxReceiveCount);
  const b = d.buckets[0];
  const bucket: Partial<BucketDefinition> = b ? { versioned: b.versioning === 'Enabled' } : {};
  try {
    return resolveDeployment({ queue, bucket });
  } catch (err) {
    throw new UsageError(`the exported settings do not fit the data-plane stack: ${(err as Error).message}`);
  }
}

/** The data-plane stack's template, synthesized without bootstrap (it has no assets). */
export async function dataPlaneTemplate(
  stackName: string,
  deployment: DeploymentDefinition,
): Promise<unknown> {
  const outdir = await mkdtemp(join(tmpdir(), 'flotilla-synth-'));
  try {
    // The feature flags `cdk deploy` would pass from cdk.json, so the template is the same.
    const context = JSON.parse(await readFile(CDK_JSON, 'utf8')).context ?? {};
    const app = new App({ outdir, context });
    new DataPlaneStack(app, stackName, { deployment, synthesizer: new BootstraplessSynthesizer() });
    return app.synth().getStackByName(stackName).template;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** Create (or update) the stack and wait for it; returns its queue URLs and bucket. */
export async function deployDataPlane(
  side: LiveSide,
  stackName: string,
  template: unknown,
  progress: NodeJS.WritableStream,
): Promise<DeployedDataPlane> {
  const cfn = await cloudFormationClient(side.endpoint);
  try {
    const body = JSON.stringify(template);
    let exists = false;
    try {
      const s = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      exists = (s.Stacks?.[0]?.StackStatus ?? 'DELETE_COMPLETE') !== 'DELETE_COMPLETE';
    } catch (err) {
      if ((err as Error).name !== 'ValidationError') throw err;
    }
    progress.write(`${exists ? 'updating' : 'creating'} stack ${stackName}\n`);
    try {
      if (exists) await cfn.send(new UpdateStackCommand({ StackName: stackName, TemplateBody: body }));
      else await cfn.send(new CreateStackCommand({ StackName: stackName, TemplateBody: body }));
    } catch (err) {
      if (!/No updates are to be performed/.test((err as Error).message)) throw err;
    }
    const deadline = Date.now() + 15 * 60_000;
    let waitMs = 250;
    for (;;) {
      const s = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
      const status = s?.StackStatus ?? 'UNKNOWN';
      if (status.endsWith('_COMPLETE') && !status.includes('ROLLBACK') && !status.startsWith('DELETE')) break;
      if (status.endsWith('_FAILED') || status.includes('ROLLBACK') || status.startsWith('DELETE')) {
        throw new UsageError(
          `stack ${stackName} ended ${status}${s?.StackStatusReason ? `: ${s.StackStatusReason}` : ''}`,
        );
      }
      if (Date.now() > deadline) throw new UsageError(`stack ${stackName} still ${status} after 15 minutes`);
      await new Promise((r) => setTimeout(r, waitMs));
      waitMs = Math.min(5_000, waitMs * 2);
    }
  } finally {
    cfn.destroy();
  }
  const out = await stackOutputs(side.endpoint, stackName);
  if (!out.queueUrl || !out.dlqUrl || !out.bucket) {
    throw new UsageError(`stack ${stackName} deployed but did not report its queue and bucket outputs`);
  }
  return {
    queueUrl: out.queueUrl,
    dlqUrl: out.dlqUrl,
    bucket: out.bucket,
    queues: out.queues ?? [{ name: 'default', url: out.queueUrl, dlqUrl: out.dlqUrl }],
  };
}

/** What a deployed data-plane stack reports: the default queue, every job queue, the bucket. */
export interface DeployedDataPlane {
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly bucket: string;
  readonly queues: readonly NamedQueue[];
}

/** Restore an export by deploying the data-plane stack, then filling the queues and bucket it made. */
export async function restoreIntoStack(
  opts: Omit<RestoreOptions, 'definitions' | 'queueUrls' | 'bucket'> & { readonly stackName: string },
): Promise<RestoreResult & { readonly stack: DeployedDataPlane }> {
  const d = await requireCompleteExport(opts.dir);
  if (d.buckets.length > 1)
    throw new UsageError('the data-plane stack holds one bucket; this export has more');
  const template = await dataPlaneTemplate(opts.stackName, deploymentFromDescription(d));
  const stack = await deployDataPlane(opts.target, opts.stackName, template, opts.progress);
  const urls = new Map<string, string>();
  // Each exported queue onto the stack's queue of the same job-queue name.
  for (const q of d.queues) {
    const into = stack.queues.find((s) => s.name === (q.jobQueue ?? 'default'));
    if (!into) continue;
    if (q.role === 'jobs') urls.set(q.name, into.url);
    if (q.role === 'dlq' && into.dlqUrl) urls.set(q.name, into.dlqUrl);
  }
  const r = await restoreDeployment({ ...opts, definitions: false, queueUrls: urls, bucket: stack.bucket });
  return { ...r, stack };
}
