import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app.js';
import type { Ec2WorkerFleet } from '../../../infra/constructs/ec2-worker-fleet.js';
import { STACK_OUTPUTS } from '../../../infra/definitions.js';
import { iamStatements, newApp, REPO_ROOT, scrubAssetHashes, stubBundle, TEST_IMAGE } from '../support.js';

const REPO_EXAMPLES = join(REPO_ROOT, 'examples', 'command-handlers');

function synth(fleet: 'fargate' | 'ec2', extra: Record<string, unknown> = {}) {
  const app = newApp({ env: 'test', flotilla: { environments: { test: { fleet, ...extra } } } });
  const built = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  return { ...built, template: Template.fromStack(built.primary) };
}

describe('PrimaryStack', () => {
  const { template, primary } = synth('fargate', { alarmEmail: 'ops@example.com' });

  it('exports the queue, DLQ, bucket and dashboard under the keys the CLI reads', () => {
    const outputs = template.findOutputs('*');
    for (const key of Object.values(STACK_OUTPUTS)) expect(Object.keys(outputs)).toContain(key);
    expect(outputs[STACK_OUTPUTS.queueUrl]?.Value).toEqual({
      Ref: primary.getLogicalId(primary.jobQueue.queue.node.defaultChild as never),
    });
    expect(JSON.stringify(outputs[STACK_OUTPUTS.dashboard]?.Value)).toContain('#dashboards:name=');
  });

  it('scales on the backlog of every queue summed, and wakes from zero on a job visible on any', () => {
    const names = primary.jobQueues.map((q) => q.name);
    expect(names).toEqual(['urgent', 'default', 'bulk']);
    const [tracking] = Object.values(
      template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
        Properties: { PolicyType: 'TargetTrackingScaling' },
      }),
    );
    const metrics = tracking!.Properties.TargetTrackingScalingPolicyConfiguration
      .CustomizedMetricSpecification.Metrics as { Id: string; Expression?: string; MetricStat?: unknown }[];
    const byQueue = metrics.filter((m) => /^(visible|inflight)_/.test(m.Id));
    expect(byQueue).toHaveLength(2 * names.length);
    const expression = metrics.find((m) => m.Id === 'backlogPerWorker')?.Expression ?? '';
    for (const m of byQueue) expect(expression).toContain(`FILL(${m.Id}, 0)`);
    expect(expression).toContain('IF(FILL(running, 0) > 0, FILL(running, 0), 1)');
    const wake = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find((a) =>
      JSON.stringify(a.Properties.Metrics ?? []).includes('FILL(desired, 0) < 1'),
    );
    for (const n of names)
      expect(JSON.stringify(wake?.Properties.Metrics)).toContain(`FILL(visible_${n}, 0)`);
  });

  it('lets the scheduler role, the submitter and the workers send to these job queues and nothing else', () => {
    const ref = (c: { node: { defaultChild?: unknown } }) =>
      primary.getLogicalId(c.node.defaultChild as never);
    const jobQueues = new Set(primary.jobQueues.map((q) => ref(q.queue)));
    const dlqs = new Set(primary.jobQueues.map((q) => ref(q.deadLetterQueue)));
    const targets = (policy: string, action: string) =>
      iamStatements(template)
        .filter((s) => s.Policy.startsWith(policy) && s.Action.includes(action))
        .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
        .map((r) => (r as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    const scheduler = iamStatements(template).filter((s) => s.Policy.startsWith('JobSchedulerRole'));
    expect(scheduler.flatMap((s) => s.Action)).toEqual(scheduler.map(() => 'sqs:SendMessage'));
    expect(new Set(targets('JobSchedulerRole', 'sqs:SendMessage'))).toEqual(jobQueues);
    expect(new Set(targets('SubmitterRole', 'sqs:SendMessage'))).toEqual(jobQueues);
    expect(new Set(targets('FargateFleetTaskDefinitionTaskRole', 'sqs:ReceiveMessage'))).toEqual(jobQueues);
    expect(new Set(targets('FargateFleetTaskDefinitionTaskRole', 'sqs:SendMessage'))).toEqual(dlqs);
  });

  it('sends every alarm to one SNS topic that refuses plain HTTP and mails the configured address', () => {
    const topicId = primary.getLogicalId(primary.monitoring.alarmTopic.node.defaultChild as never);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', Match.anyValue());
    for (const alarm of primary.jobQueues.flatMap((q) => q.alarms)) {
      const props =
        template.findResources('AWS::CloudWatch::Alarm')[
          primary.getLogicalId(alarm.node.defaultChild as never)
        ]?.Properties;
      expect(props?.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('draws backlog, in-flight, oldest age, workers, jobs/s, failures and DLQ depth on the dashboard', () => {
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of [
      'ApproximateNumberOfMessagesVisible',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateAgeOfOldestMessage',
      'RunningTaskCount',
      'NumberOfMessagesDeleted',
      'NumberOfMessagesSent',
    ]) {
      expect(body).toContain(metric);
    }
  });

  const actionsOf = (role: { node: { defaultChild?: unknown } }) => {
    const roleId = primary.getLogicalId(role.node.defaultChild as never);
    const policies = template.findResources('AWS::IAM::Policy');
    const actions = iamStatements(template)
      .filter((s) => JSON.stringify(policies[s.Policy]?.Properties.Roles).includes(roleId))
      .flatMap((s) => s.Action)
      .sort();
    return [...new Set(actions)];
  };

  it('gives submitters send, input and payload uploads, result reads and DLQ redrive, nothing else', () => {
    expect(actionsOf(primary.submitterRole)).toEqual([
      'cloudformation:DescribeStacks',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
  });

  it('gives the exporter whole-bucket reads and writes, settings reads and DLQ peeks, and no deletes', () => {
    expect(actionsOf(primary.exporterRole)).toEqual([
      'cloudformation:DescribeStacks',
      'cloudformation:GetTemplate',
      's3:AbortMultipartUpload',
      's3:GetBucketTagging',
      's3:GetBucketVersioning',
      's3:GetEncryptionConfiguration',
      's3:GetLifecycleConfiguration',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'sqs:ChangeMessageVisibility',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
  });

  it('matches its snapshot, asset hashes scrubbed (Fargate flavour)', () => {
    expect(scrubAssetHashes(template.toJSON())).toMatchSnapshot();
  });
});

describe('PrimaryStack, EC2 flavour', () => {
  it('builds an Auto Scaling group and no ECS service', () => {
    const { template } = synth('ec2');
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 1);
    template.resourceCountIs('AWS::ECS::Service', 0);
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'))).toContain(
      'GroupInServiceInstances',
    );
  });
});

describe('PrimaryStack, command handlers', () => {
  const exec = { stats: 'python3 /app/stats.py', ocr: { command: '/app/ocr', timeoutSeconds: 300 } };

  it("passes cdk.json's exec to the Fargate workers as FLOTILLA_EXEC", () => {
    synth('fargate', { exec }).template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'FLOTILLA_EXEC', Value: JSON.stringify(exec) }]),
        }),
      ],
    });
  });

  it("passes cdk.json's exec to the EC2 workers' environment file, with their code and packages", () => {
    const { template } = synth('ec2', {
      exec,
      ec2: { codePath: REPO_EXAMPLES, packages: ['python3-boto3'] },
    });
    const script = JSON.stringify(template.findResources('AWS::EC2::LaunchTemplate'));
    expect(script).toContain('FLOTILLA_EXEC=\\"{\\\\\\"stats\\\\\\":');
    expect(script).toContain('dnf install -y nodejs22 unzip python3-boto3');
    expect(script).toContain('WorkingDirectory=/opt/flotilla/app');
  });

  it('refuses a binding whose job type is not one, naming its path', () => {
    expect(() => synth('fargate', { exec: { '9x': './x' } })).toThrow(/environments\.test\.exec/);
  });
});

describe('PrimaryStack, result packing', () => {
  const environmentOf = (template: Template) =>
    JSON.stringify([
      template.findResources('AWS::ECS::TaskDefinition'),
      template.findResources('AWS::EC2::LaunchTemplate'),
    ]);

  it("passes cdk.json's resultPacking to the workers of either fleet as FLOTILLA_RESULT_PACKING, and nothing by default", () => {
    expect(environmentOf(synth('fargate', { resultPacking: true }).template)).toContain(
      '{"Name":"FLOTILLA_RESULT_PACKING","Value":"on"}',
    );
    expect(environmentOf(synth('ec2', { resultPacking: { maxJobs: 20 } }).template)).toContain(
      'FLOTILLA_RESULT_PACKING=maxJobs=20',
    );
    expect(environmentOf(synth('fargate').template)).not.toContain('FLOTILLA_RESULT_PACKING');
    expect(environmentOf(synth('fargate', { resultPacking: false }).template)).not.toContain(
      'FLOTILLA_RESULT_PACKING',
    );
  });

  it('refuses a limit the worker would refuse, naming its path', () => {
    expect(() => synth('fargate', { resultPacking: { maxJobs: 0 } })).toThrow(
      /environments\.test\.resultPacking\.maxJobs must be a whole number 1\.\.1000/,
    );
    const shortLeases = { queue: { visibilityTimeoutSeconds: 10 }, resultPacking: { maxDelayMs: 6000 } };
    expect(() => synth('fargate', shortLeases)).toThrow(
      /resultPacking\.maxDelayMs must be at most half the job queues' visibility timeout/,
    );
  });
});

describe('PrimaryStack, your handlers', () => {
  it("ships the handlers file cdk.json names in the fleet's bundle", () => {
    const handlers = join(mkdtempSync(join(tmpdir(), 'flotilla-handlers-')), 'handlers.ts');
    writeFileSync(
      handlers,
      "export default [{ type: 'from-cdk-json', handler: async () => 'mark-4e2b0d' }];\n",
    );
    const app = newApp({ env: 'test', flotilla: { environments: { test: { fleet: 'ec2', handlers } } } });
    const { primary } = buildApp(app);
    app.synth();
    const bundle = (primary.fleet as Ec2WorkerFleet).bundle;
    expect(readFileSync(join(app.outdir, bundle.assetPath), 'utf8')).toContain('mark-4e2b0d');
  });
});
