/**
 * The roles the primary stack creates, proven against enforcement. Each role's policies are
 * taken from the synthesized template, resolved to this test's queue, DLQ and bucket, and given
 * to an IAM user on a moto_server that enforces IAM; then the real thing runs with those
 * credentials: the worker bundle through the demo's wordcount fan-out and merge, `flotilla
 * submit --wait`, `results` and `dlq redrive` as the submitter, export and restore as the
 * exporter. A call outside the grants fails with AccessDenied.
 *
 * moto evaluates actions and S3 resources but not conditions, SQS queue ARNs, ECS or Auto
 * Scaling; the policy simulation below (@cloud-copilot/iam-simulate, offline, over the same
 * synthesized statements) covers those. docs/deploy.md lists which check covers which action.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../core/adapters/s3-store.js';
import { type EndpointConfig, s3Client, sqsClient } from '../../core/aws.js';
import { PREFIXES } from '../../core/layout.js';
import { buildApp } from '../../infra/app.js';
import type { Ec2WorkerFleet } from '../../infra/constructs/ec2-worker-fleet.js';
import type { FargateWorkerFleet } from '../../infra/constructs/fargate-worker-fleet.js';
import { resolveDeployment, resourceNames } from '../../infra/definitions.js';
import type { PrimaryStack } from '../../infra/stacks/primary-stack.js';
import { buildWorker } from '../../scripts/build-worker.js';
import { provisionDeployment } from '../../scripts/provision.js';
import { countWords } from '../../workers/handlers/wordcount.js';
import { eventually } from '../support/deployment.js';
import { type startMoto, uniqueName } from '../support/emulators.js';
import { flotilla, REPO_ROOT, type RunResult, startWorkerProcess } from '../support/moto-deploy.js';
import {
  credentialsEnv,
  enforceIam,
  forMoto,
  logicalId,
  MOTO_ACCOUNT,
  MOTO_REGION,
  type Physical,
  type PolicyDocument,
  resolve,
  rolePolicy,
  startEnforcingMoto,
  type UserCredentials,
  userWithPolicy,
} from '../support/moto-iam.js';
import { newApp, stubBundle, TEST_IMAGE } from './support.js';

const STACK = 'flotilla-iam';
const CLUSTER = 'flotilla-iam-cluster';
const GROUP = 'flotilla-iam-workers';

function synthesize(fleet: 'fargate' | 'ec2') {
  const app = newApp({ env: 'iam', flotilla: { environments: { iam: { fleet, stackName: STACK } } } });
  const { primary } = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  const template = app.synth().getStackByName(primary.stackName).template as Record<string, unknown>;
  return { primary, template };
}

/** What the template's references stand for, for a deployment with these names. */
function physicalNames(
  primary: PrimaryStack,
  names: { bucket: string; queues: readonly { name: string; url: string; dlqUrl?: string }[] },
): Physical {
  const queueName = (url: string) => url.split('/').pop() ?? '';
  const sqsArn = (url: string) => `arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:${queueName(url)}`;
  const fleet = primary.fleet as Partial<FargateWorkerFleet & Ec2WorkerFleet>;
  // Every job queue and its DLQ, by the name the definitions give both.
  const queues = primary.jobQueues.flatMap((q) => {
    const p = names.queues.find((x) => x.name === q.name)!;
    return [
      [logicalId(primary, q.queue), p.url],
      [logicalId(primary, q.deadLetterQueue), p.dlqUrl!],
    ] as const;
  });
  return {
    ref: {
      'AWS::Partition': 'aws',
      'AWS::Region': MOTO_REGION,
      'AWS::AccountId': MOTO_ACCOUNT,
      'AWS::StackName': STACK,
      ...Object.fromEntries(queues),
      [logicalId(primary, primary.dataStore.bucket)]: names.bucket,
      ...(fleet.cluster ? { [logicalId(primary, fleet.cluster)]: CLUSTER } : {}),
      ...(fleet.autoScalingGroup ? { [logicalId(primary, fleet.autoScalingGroup)]: GROUP } : {}),
    },
    arn: {
      ...Object.fromEntries(queues.map(([id, url]) => [id, sqsArn(url)])),
      [logicalId(primary, primary.dataStore.bucket)]: `arn:aws:s3:::${names.bucket}`,
    },
  };
}

/** The worker's environment as the Fargate task definition injects it, resolved. */
function taskEnvironment(template: Record<string, unknown>, physical: Physical): Record<string, string> {
  const resources = (template as { Resources: Record<string, { Type: string; Properties: never }> })
    .Resources;
  const td = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  if (!td) throw new Error('the template has no task definition');
  const props = td.Properties as {
    ContainerDefinitions: { Environment?: { Name: string; Value: unknown }[] }[];
  };
  const env = props.ContainerDefinitions[0]?.Environment;
  return Object.fromEntries((env ?? []).map((e) => [e.Name, String(resolve(e.Value, physical))]));
}

/**
 * The call was refused as AWS refuses it. moto answers an SQS refusal in XML (sent as text/html)
 * to a JSON-protocol client, which Flotilla's clients report as an answer that is no SQS error
 * reply (EndpointAnswerError): then its HTTP status, 403, says it.
 */
const accessDenied = async (p: Promise<unknown>) => {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const unreadable = err?.name === 'SyntaxError' || err?.name === 'EndpointAnswerError';
  const code = unreadable && err?.$metadata?.httpStatusCode === 403 ? 'AccessDenied' : err?.name;
  expect(code ?? 'no error').toMatch(/AccessDenied/);
};

const expectOk = (r: RunResult, what: string) => {
  if (r.code !== 0)
    throw new Error(`${what} exited ${r.code}:\n${r.stderr.slice(-2000)}\n${r.stdout.slice(-500)}`);
};

describe('the synthesized roles on a moto_server that enforces IAM', () => {
  const { primary, template } = synthesize('fargate');
  const name = uniqueName('iam');
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let names: Awaited<ReturnType<typeof provisionDeployment>>;
  let physical: Physical;
  const users: Record<string, UserCredentials> = {};
  let worker: ReturnType<typeof startWorkerProcess> | undefined;
  const as = (who: string): EndpointConfig => ({
    endpoint: moto.endpoint,
    region: MOTO_REGION,
    credentials: users[who]!,
  });
  const cli = (who: string, args: string[], timeoutMs = 60_000) =>
    flotilla(
      // The DLQ named as `--stack` names it: moto authorizes GetQueueUrl against no queue at all.
      [...args, '--queue-url', names.queueUrl, '--dlq-url', names.dlqUrl, '--bucket', names.bucket],
      moto.endpoint,
      timeoutMs,
      credentialsEnv(users[who]!),
    );
  const docs = ['the quick brown fox', 'the lazy dog and the fox', "a dog's day"];

  beforeAll(async () => {
    await buildWorker();
    moto = await startEnforcingMoto();
    names = await provisionDeployment({ sqs: moto.sqs, s3: moto.s3 }, name, resolveDeployment({}));
    physical = physicalNames(primary, names);
    const roles = {
      worker: (primary.fleet as FargateWorkerFleet).taskDefinition.taskRole,
      submitter: primary.submitterRole,
      exporter: primary.exporterRole,
    };
    for (const [who, role] of Object.entries(roles)) {
      const policy = forMoto(rolePolicy(template, logicalId(primary, role as never), physical));
      users[who] = await userWithPolicy(moto, `${name}-${who}`, policy);
    }
    // Only the test's own setup and checks use this one.
    users.admin = await userWithPolicy(moto, `${name}-admin`, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    });
    await enforceIam(moto);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await moto?.stop();
  });

  it('refuses a caller it does not know, so enforcement is on', async () => {
    const s3 = s3Client({ ...as('admin'), credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const err = await s3
      .send(new GetObjectCommand({ Bucket: names.bucket, Key: 'results/x' }))
      .catch((e) => e);
    s3.destroy();
    expect(String(err?.name)).toMatch(/InvalidAccessKeyId|AccessDenied/);
  });

  it("runs the demo's wordcount fan-out and merge: the submitter uploads inputs, the worker bundle reads them and writes outputs", async () => {
    const store = new S3Store(s3Client(as('submitter')), names.bucket);
    const keys = docs.map((_, i) => `${PREFIXES.inputs}run1/doc-${i}.txt`);
    for (const [i, k] of keys.entries()) await store.put(k, docs[i]!, { contentType: 'text/plain' });

    worker = startWorkerProcess([join(REPO_ROOT, 'dist', 'worker.js')], moto.endpoint, {
      ...taskEnvironment(template, physical),
      ...credentialsEnv(users.worker!),
      // No ECS agent here: task protection is covered by the policy simulation.
      FLOTILLA_SCALE_IN_GUARD: 'none',
      FLOTILLA_WAIT_SECONDS: '1',
    });
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-iam-'));
    writeFileSync(join(dir, 'jobs.ndjson'), keys.map((key) => JSON.stringify({ key })).join('\n'));
    expectOk(
      await cli(
        'submitter',
        [
          'submit',
          'wordcount',
          '--file',
          join(dir, 'jobs.ndjson'),
          '--batch',
          'map1',
          '--wait',
          '--timeout',
          '60',
        ],
        90_000,
      ),
      'submit wordcount',
    );
    const merge = await cli(
      'submitter',
      [
        'submit',
        'wordcount-merge',
        '--payload',
        '{"batch":"map1"}',
        '--id',
        'merge',
        '--batch',
        'merge1',
        '--wait',
        '--timeout',
        '60',
      ],
      90_000,
    );
    expectOk(merge, 'submit wordcount-merge');

    const results = await cli('submitter', ['results', 'merge1', '--json']);
    expectOk(results, 'results');
    const rec = JSON.parse(results.stdout.trim().split('\n')[0] ?? '{}') as {
      result: { outputKey: string; words: number };
    };
    expect(rec.result.words).toBe(docs.join(' ').split(' ').length);
    const merged = JSON.parse((await store.get(rec.result.outputKey)).toString()) as Record<string, number>;
    expect(merged).toEqual(Object.fromEntries(countWords(docs.join('\n'))));
  }, 180_000);

  it('dead-letters a job of an unknown type, and the submitter redrives it back to the queue', async () => {
    const failed = await cli(
      'submitter',
      [
        'submit',
        'no-such-type',
        '--payload',
        '{}',
        '--id',
        'lost',
        '--batch',
        'dlq1',
        '--wait',
        '--timeout',
        '60',
      ],
      90_000,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('lost');
    await worker?.stop();
    worker = undefined;
    const redrive = await cli('submitter', ['dlq', 'redrive']);
    expectOk(redrive, 'dlq redrive');
    expect(redrive.stderr).toContain('moved 1 message(s)');
    const admin = sqsClient(as('admin'));
    const depth = await eventually(async () => {
      const a = await admin.send(
        new GetQueueAttributesCommand({
          QueueUrl: names.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      return Number(a.Attributes?.ApproximateNumberOfMessages ?? 0);
    });
    admin.destroy();
    expect(depth).toBe(1);
  }, 180_000);

  it("exports the deployment and restores a lost object with the exporter's role", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flotilla-iam-export-')), 'backup');
    expectOk(await cli('exporter', ['export', '--to', dir, '--include-dlq', '--quiet'], 90_000), 'export');
    const admin = s3Client(as('admin'));
    const lost = `${PREFIXES.inputs}run1/doc-0.txt`;
    await admin.send(new DeleteObjectCommand({ Bucket: names.bucket, Key: lost }));
    const restore = await flotilla(
      ['restore', '--from', dir, '--data-only', '--quiet'],
      moto.endpoint,
      90_000,
      credentialsEnv(users.exporter!),
    );
    expectOk(restore, 'restore');
    expect(restore.stderr).toMatch(/restored 1 objects/);
    const back = await admin.send(new GetObjectCommand({ Bucket: names.bucket, Key: lost }));
    expect(await back.Body?.transformToString()).toBe(docs[0]);
    admin.destroy();
  }, 180_000);

  it('refuses with AccessDenied what the synthesized policies do not grant', async () => {
    const s3 = (who: string) => s3Client(as(who));
    const put = (who: string, Key: string) =>
      s3(who).send(new PutObjectCommand({ Bucket: names.bucket, Key, Body: 'x' }));
    // The worker reads inputs/ but may not write there; the submitter writes inputs/ but may not read them.
    await accessDenied(put('worker', `${PREFIXES.inputs}forged.txt`));
    await accessDenied(
      s3('submitter').send(
        new GetObjectCommand({ Bucket: names.bucket, Key: `${PREFIXES.inputs}run1/doc-1.txt` }),
      ),
    );
    // Nobody but the exporter writes outside the layout; the exporter deletes nothing.
    await accessDenied(put('submitter', 'elsewhere/x'));
    await accessDenied(
      s3('exporter').send(
        new DeleteObjectCommand({ Bucket: names.bucket, Key: `${PREFIXES.inputs}run1/doc-1.txt` }),
      ),
    );
    // No role may purge a queue.
    await accessDenied(sqsClient(as('submitter')).send(new PurgeQueueCommand({ QueueUrl: names.dlqUrl })));
    // The same worker credentials are granted what they were given.
    expect((await put('worker', `${PREFIXES.outputs}ok.txt`)).$metadata.httpStatusCode).toBe(200);
  });
});

describe('policy simulation over the synthesized template: what moto cannot evaluate', () => {
  const sqsUrl = (n: string) => `http://sqs.${MOTO_REGION}.localhost/${MOTO_ACCOUNT}/${n}`;
  const names = {
    bucket: 'sim-data',
    queues: Object.entries(resourceNames('sim').queues).map(([name, n]) => ({
      name,
      url: sqsUrl(n.queue),
      dlqUrl: sqsUrl(n.dlq),
    })),
  };
  const queue = `arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:sim-jobs`;
  const dlq = `${queue}-dlq`;
  const bucket = 'arn:aws:s3:::sim-data';
  const fargate = synthesize('fargate');
  const ec2 = synthesize('ec2');
  const policyOf = (
    s: ReturnType<typeof synthesize>,
    role: { node: { defaultChild?: unknown } },
  ): PolicyDocument => rolePolicy(s.template, logicalId(s.primary, role), physicalNames(s.primary, names));
  const taskRole = policyOf(fargate, (fargate.primary.fleet as FargateWorkerFleet).taskDefinition.taskRole);
  const instanceRole = policyOf(ec2, (ec2.primary.fleet as Ec2WorkerFleet).role);
  const submitter = policyOf(fargate, fargate.primary.submitterRole);
  const exporter = policyOf(fargate, fargate.primary.exporterRole);

  async function decide(
    policy: PolicyDocument,
    action: string,
    resource: string,
    context: Record<string, string> = {},
  ): Promise<string> {
    const out = await runSimulation(
      {
        identityPolicies: [{ name: 'granted', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: undefined,
        request: {
          action,
          principal: `arn:aws:iam::${MOTO_ACCOUNT}:role/sim`,
          resource: { accountId: MOTO_ACCOUNT, resource },
          contextVariables: context,
        },
      },
      {},
    );
    if (out.resultType === 'error')
      throw new Error(`simulation of ${action} failed: ${JSON.stringify(out.errors)}`);
    return out.overallResult;
  }

  it('lets each role list only the prefixes the layout grants it (s3:ListBucket with s3:prefix)', async () => {
    const list = (p: PolicyDocument, prefix: string) =>
      decide(p, 's3:ListBucket', bucket, { 's3:prefix': prefix });
    expect(await list(taskRole, 'results/b1/')).toBe('Allowed');
    expect(await list(taskRole, 'inputs/')).toBe('ImplicitlyDenied');
    expect(await list(taskRole, '')).toBe('ImplicitlyDenied');
    expect(await list(submitter, 'errors/b1/')).toBe('Allowed');
    expect(await list(submitter, 'payloads/')).toBe('ImplicitlyDenied');
    expect(await list(exporter, '')).toBe('Allowed');
  });

  // S3 answers a missing key with 404 only when the caller may also s3:ListBucket, and it
  // evaluates that implicit check with the key itself as s3:prefix (Ceph matched AWS on this in
  // ceph/ceph#68577). The runtime tells "no result yet" from a failure by that 404: the worker's
  // HEAD of a result and read of an error record, the submitter's reads while it waits.
  it('answers 404, not 403, for a missing key where a role reads and lists (the implicit ListBucket check with the key as s3:prefix)', async () => {
    const missing = (p: PolicyDocument, key: string) =>
      decide(p, 's3:ListBucket', bucket, { 's3:prefix': key });
    for (const role of [taskRole, instanceRole]) {
      expect(await missing(role, 'results/b1/j1.json')).toBe('Allowed');
      expect(await missing(role, 'errors/b1/j1.json')).toBe('Allowed');
      expect(await missing(role, 'cancel/b1/j1')).toBe('Allowed');
      expect(await missing(role, 'failover/active.json')).toBe('Allowed');
      // Read without list: a missing input is a 403, which fails the job as a missing one would.
      expect(await missing(role, 'inputs/a.txt')).toBe('ImplicitlyDenied');
    }
    for (const key of [
      'results/b1/j1.json',
      'errors/b1/j1.json',
      'progress/b1/j1.json',
      'scheduled/x.json',
      'failover/active.json',
    ])
      expect(await missing(submitter, key)).toBe('Allowed');
    expect(await missing(exporter, 'anything/at/all')).toBe('Allowed');
  });

  it('scopes every queue action to its queue: workers consume jobs and only send to the DLQ, submitters send jobs and only consume the DLQ', async () => {
    expect(await decide(taskRole, 'sqs:ReceiveMessage', queue)).toBe('Allowed');
    expect(await decide(taskRole, 'sqs:ChangeMessageVisibility', queue)).toBe('Allowed');
    expect(await decide(taskRole, 'sqs:SendMessage', queue)).toBe('ImplicitlyDenied');
    expect(await decide(taskRole, 'sqs:SendMessage', dlq)).toBe('Allowed');
    expect(await decide(taskRole, 'sqs:ReceiveMessage', dlq)).toBe('ImplicitlyDenied');
    expect(await decide(submitter, 'sqs:SendMessage', queue)).toBe('Allowed');
    expect(await decide(submitter, 'sqs:ReceiveMessage', queue)).toBe('ImplicitlyDenied');
    expect(await decide(submitter, 'sqs:DeleteMessage', dlq)).toBe('Allowed');
    expect(await decide(exporter, 'sqs:ReceiveMessage', queue)).toBe('ImplicitlyDenied');
    expect(await decide(exporter, 'sqs:DeleteMessage', dlq)).toBe('ImplicitlyDenied');
  });

  it("lets a Fargate task protect only its own cluster's tasks", async () => {
    const task = (cluster: string) =>
      `arn:aws:ecs:${MOTO_REGION}:${MOTO_ACCOUNT}:task/${cluster}/0123456789abcdef`;
    expect(await decide(taskRole, 'ecs:UpdateTaskProtection', task(CLUSTER))).toBe('Allowed');
    expect(await decide(taskRole, 'ecs:UpdateTaskProtection', task('other'))).toBe('ImplicitlyDenied');
    expect(await decide(taskRole, 'ecs:GetTaskProtection', task(CLUSTER))).toBe('ImplicitlyDenied');
  });

  it('lets an EC2 instance protect itself and complete its lifecycle action in its own group only, and fetch its bundle', async () => {
    const group = (g: string) =>
      `arn:aws:autoscaling:${MOTO_REGION}:${MOTO_ACCOUNT}:autoScalingGroup:1b2c3d4e-0000-4000-8000-000000000000:autoScalingGroupName/${g}`;
    for (const action of ['autoscaling:SetInstanceProtection', 'autoscaling:CompleteLifecycleAction']) {
      expect(await decide(instanceRole, action, group(GROUP))).toBe('Allowed');
      expect(await decide(instanceRole, action, group('other'))).toBe('ImplicitlyDenied');
    }
    const bundle = JSON.stringify(instanceRole).match(/arn:aws:s3:::cdk-[^"]+\.js/)?.[0] ?? 'no bundle grant';
    expect(await decide(instanceRole, 's3:GetObject', bundle)).toBe('Allowed');
    expect(await decide(instanceRole, 's3:GetObject', bundle.replace(/[^/]+\.js$/, 'other.js'))).toBe(
      'ImplicitlyDenied',
    );
    expect(await decide(instanceRole, 's3:GetObject', `${bucket}/inputs/doc.txt`)).toBe('Allowed');
  });

  it('lets the CLI read this stack, and no other (`--stack NAME`)', async () => {
    const stack = (n: string) =>
      `arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/${n}/0a1b2c3d-0000-4000-8000-000000000000`;
    expect(await decide(submitter, 'cloudformation:DescribeStacks', stack(STACK))).toBe('Allowed');
    expect(await decide(exporter, 'cloudformation:GetTemplate', stack(STACK))).toBe('Allowed');
    expect(await decide(submitter, 'cloudformation:GetTemplate', stack(STACK))).toBe('ImplicitlyDenied');
    expect(await decide(exporter, 'cloudformation:DescribeStacks', stack('other'))).toBe('ImplicitlyDenied');
  });
});
