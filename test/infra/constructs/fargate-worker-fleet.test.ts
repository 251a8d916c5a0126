import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { describe, expect, it } from 'vitest';
import { DATA_LAYOUT, prefixesFor } from '../../../core/layout.js';
import { DataStore } from '../../../infra/constructs/data-store.js';
import {
  FargateWorkerFleet,
  workerImageFromRepository,
} from '../../../infra/constructs/fargate-worker-fleet.js';
import { JobQueue } from '../../../infra/constructs/job-queue.js';
import {
  backlogPerWorkerExpression,
  wakeFromZeroExpression,
} from '../../../infra/constructs/worker-fleet-base.js';
import {
  backlogPerWorkerTarget,
  DEFAULT_SCALING,
  resolveScaling,
  surgeSteps,
} from '../../../infra/scaling.js';
import { iamStatements, newApp, newStack, TEST_IMAGE } from '../support.js';

function synth(props: Partial<ConstructorParameters<typeof FargateWorkerFleet>[2]> = {}) {
  const stack = newStack();
  const jobQueue = new JobQueue(stack, 'JobQueue');
  const dataStore = new DataStore(stack, 'DataStore');
  const fleet = new FargateWorkerFleet(stack, 'Fleet', { jobQueue, dataStore, image: TEST_IMAGE, ...props });
  return { stack, fleet, jobQueue, dataStore, template: Template.fromStack(stack) };
}

describe('FargateWorkerFleet', () => {
  const { template, stack, fleet, jobQueue, dataStore } = synth();
  const ref = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

  it('mixes FARGATE_SPOT and FARGATE by the Spot share and starts with no tasks', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 0,
      CapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE_SPOT', Weight: 70 },
        { CapacityProvider: 'FARGATE', Weight: 30 },
      ],
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 100 }),
    });
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']),
    });
    const allSpot = synth({ spotShare: 1 }).template;
    allSpot.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [{ CapacityProvider: 'FARGATE_SPOT', Weight: 100 }],
    });
  });

  it('gives the container time to drain, logs to CloudWatch, and runs it read-only as a non-root user', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          StopTimeout: 100,
          ReadonlyRootFilesystem: true,
          User: '1000',
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          // In the order the fleet injects them (arrayWith keeps order).
          Environment: Match.arrayWith([
            { Name: 'FLOTILLA_QUEUE_URL', Value: { Ref: ref(jobQueue.queue) } },
            { Name: 'FLOTILLA_BUCKET', Value: { Ref: ref(dataStore.bucket) } },
            { Name: 'FLOTILLA_CONCURRENCY', Value: String(DEFAULT_SCALING.jobsPerWorker) },
            { Name: 'FLOTILLA_DRAIN_SECONDS', Value: '90' },
            { Name: 'FLOTILLA_SCALE_IN_GUARD', Value: 'ecs' },
          ]),
        }),
      ],
    });
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('tracks backlog per worker with metric math and the target derived from latency and job duration', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: DEFAULT_SCALING.maxWorkers,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: backlogPerWorkerTarget(DEFAULT_SCALING),
        ScaleInCooldown: DEFAULT_SCALING.scaleInCooldownSeconds,
        ScaleOutCooldown: DEFAULT_SCALING.scaleOutCooldownSeconds,
        CustomizedMetricSpecification: {
          Metrics: [
            Match.objectLike({
              Id: 'visible_default',
              MetricStat: Match.objectLike({
                Metric: Match.objectLike({
                  Namespace: 'AWS/SQS',
                  MetricName: 'ApproximateNumberOfMessagesVisible',
                }),
              }),
              ReturnData: false,
            }),
            Match.objectLike({
              Id: 'inflight_default',
              MetricStat: Match.objectLike({
                Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesNotVisible' }),
              }),
            }),
            Match.objectLike({
              Id: 'running',
              MetricStat: Match.objectLike({
                Metric: Match.objectLike({
                  Namespace: 'ECS/ContainerInsights',
                  MetricName: 'RunningTaskCount',
                }),
              }),
            }),
            {
              Id: 'backlogPerWorker',
              Label: Match.anyValue(),
              Expression: backlogPerWorkerExpression(['default']),
              ReturnData: true,
            },
          ],
        },
      },
    });
  });

  it('wakes the fleet from zero: an alarm on "no worker wanted, a job visible" sets exactly wakeWorkers', () => {
    const policies = template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
      Properties: {
        PolicyType: 'StepScaling',
        StepScalingPolicyConfiguration: { AdjustmentType: 'ExactCapacity' },
      },
    });
    const [wakeId] = Object.keys(policies);
    expect(policies[wakeId ?? '']?.Properties.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: 'ExactCapacity',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: DEFAULT_SCALING.wakeWorkers }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: wakeId }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([Match.objectLike({ Expression: wakeFromZeroExpression(['default']) })]),
    });
    // A fleet that never goes below one worker needs no wake-up.
    const floor = synth({ scaling: resolveScaling({ minWorkers: 1 }) }).template;
    floor.resourcePropertiesCountIs(
      'AWS::ApplicationAutoScaling::ScalingPolicy',
      { PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { AdjustmentType: 'ExactCapacity' } },
      0,
    );
  });

  it('surges on one datapoint when backlog per worker is far above target, by the steps in infra/scaling.ts', () => {
    const policies = template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', {
      Properties: { StepScalingPolicyConfiguration: { AdjustmentType: 'PercentChangeInCapacity' } },
    });
    const [surgeId] = Object.keys(policies);
    const steps = surgeSteps(DEFAULT_SCALING);
    const base = steps[0]!.backlogPerWorkerAtLeast;
    expect(policies[surgeId ?? '']?.Properties.StepScalingPolicyConfiguration.StepAdjustments).toEqual([
      {
        MetricIntervalLowerBound: 0,
        MetricIntervalUpperBound: steps[1]!.backlogPerWorkerAtLeast - base,
        ScalingAdjustment: 100,
      },
      {
        MetricIntervalLowerBound: steps[1]!.backlogPerWorkerAtLeast - base,
        MetricIntervalUpperBound: steps[2]!.backlogPerWorkerAtLeast - base,
        ScalingAdjustment: 300,
      },
      { MetricIntervalLowerBound: steps[2]!.backlogPerWorkerAtLeast - base, ScalingAdjustment: 700 },
    ]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: surgeId }],
      Threshold: 3 * backlogPerWorkerTarget(DEFAULT_SCALING),
      EvaluationPeriods: 1,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: backlogPerWorkerExpression(['default']) })]),
    });
  });

  it('has no CPU-based scaling', () => {
    expect(JSON.stringify(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'))).not.toMatch(
      /CPUUtilization|PredefinedMetricSpecification/,
    );
  });

  it("lets the task role consume jobs and use the worker's part of the bucket layout, and nothing more", () => {
    const taskRole = ref(fleet.taskDefinition.taskRole as never);
    const statements = iamStatements(template).filter((s) =>
      JSON.stringify(template.findResources('AWS::IAM::Policy')[s.Policy]?.Properties.Roles).includes(
        taskRole,
      ),
    );
    const actions = statements.flatMap((s) => s.Action);
    expect(actions).toEqual(
      expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 's3:PutObject']),
    );
    // The job queue is consumed, never written; the DLQ is only sent to.
    const onQueue = statements.filter((s) => JSON.stringify(s.Resource).includes(ref(jobQueue.queue)));
    expect(onQueue.flatMap((s) => s.Action)).not.toContain('sqs:SendMessage');
    const onDlq = statements.filter((s) =>
      JSON.stringify(s.Resource).includes(ref(jobQueue.deadLetterQueue)),
    );
    expect(onDlq.flatMap((s) => s.Action)).not.toContain('sqs:ReceiveMessage');
    // No deletes, no bucket-wide object access, no wildcard resources.
    expect(actions.some((a) => /^s3:(Delete|\*)/.test(a) || a === '*')).toBe(false);
    const objectArns = JSON.stringify(
      statements.filter((s) => s.Action.some((a) => a.startsWith('s3:'))).map((s) => s.Resource),
    );
    expect(objectArns).not.toMatch(/"\/\*"/);
    // Exactly the worker's part of the bucket layout, prefix by prefix.
    const s3On = (action: string) =>
      statements
        .filter((s) => s.Action.includes(action))
        .flatMap((s) => [s.Resource].flat())
        .map((r) => JSON.stringify(r).match(/\/([a-z]+\/)\*/)?.[1])
        .sort();
    expect(s3On('s3:GetObject')).toEqual(prefixesFor(DATA_LAYOUT, 'worker', 'read').sort());
    expect(s3On('s3:PutObject')).toEqual(prefixesFor(DATA_LAYOUT, 'worker', 'write').sort());
    const list = statements.filter((s) => s.Action.includes('s3:ListBucket'));
    expect(list.map((s) => s.Condition)).toEqual([
      { StringLike: { 's3:prefix': prefixesFor(DATA_LAYOUT, 'worker', 'list').map((p) => `${p}*`) } },
    ]);
    expect(statements.some((s) => s.Resource === '*')).toBe(false);
    // Task scale-in protection only for tasks of this cluster.
    const protection = statements.find((s) => s.Action.includes('ecs:UpdateTaskProtection'));
    expect(JSON.stringify(protection?.Resource)).toContain(':task/');
    expect(JSON.stringify(protection?.Resource)).toContain(ref(fleet.cluster));
  });

  it("grants a deployment's own prefix and bucket as declared, and tells the worker about them", () => {
    const storage = {
      prefixes: { 'images/': { worker: ['read', 'list'] as const } },
      buckets: { 'shared-reference-data': { worker: ['read'] as const } },
    };
    const extra = synth({ storage });
    const text = JSON.stringify(extra.template.findResources('AWS::IAM::Policy'));
    expect(text).toContain('/images/*');
    expect(text).toContain('"images/*"');
    expect(text).toContain('arn:aws:s3:::shared-reference-data/*');
    extra.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'FLOTILLA_STORAGE', Value: JSON.stringify(storage) }]),
        }),
      ],
    });
    expect(() => synth({ storage: { prefixes: { images: { worker: ['read'] } } } })).toThrow(
      /Test\/Fleet: invalid worker fleet props: .*storage.prefixes.'images'/,
    );
  });

  it('tells the worker its command handlers (FLOTILLA_EXEC), gives them a writable /tmp, and refuses a malformed binding', () => {
    const exec = {
      thumbnail: 'python3 /app/thumbnail.py',
      ocr: { command: '/app/ocr', timeoutSeconds: 300 },
    };
    synth({ exec }).template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          MountPoints: [{ SourceVolume: 'scratch', ContainerPath: '/tmp', ReadOnly: false }],
          Environment: Match.arrayWith([{ Name: 'FLOTILLA_EXEC', Value: JSON.stringify(exec) }]),
        }),
      ],
    });
    expect(() => synth({ exec: { '9x': './x' } })).toThrow(
      /Test\/Fleet: invalid worker fleet props: exec: '9x' is not a job type/,
    );
  });

  it('refuses a drain time ECS cannot honour, naming the construct', () => {
    expect(() => synth({ drainTime: Duration.seconds(115) })).toThrow(
      /Test\/Fleet: invalid worker fleet props: drainTime must be at most 110 seconds on Fargate/,
    );
    expect(() => synth({ spotShare: 1.5 })).toThrow(/spotShare must be between 0 and 1/);
  });
});

describe('workerImageFromRepository', () => {
  it('sends only the bundle and the Dockerfile to the Docker build, and needs no Docker to synthesize', () => {
    const repo = mkdtempSync(join(tmpdir(), 'flotilla-repo-'));
    mkdirSync(join(repo, 'dist'));
    mkdirSync(join(repo, 'workers'));
    mkdirSync(join(repo, 'node_modules', 'big'), { recursive: true });
    writeFileSync(join(repo, 'dist', 'worker.js'), 'console.log(1)');
    writeFileSync(join(repo, 'dist', 'worker.js.map'), '{}');
    writeFileSync(join(repo, 'workers', 'Dockerfile'), 'FROM scratch');
    writeFileSync(join(repo, 'workers', 'main.ts'), '');
    writeFileSync(join(repo, 'node_modules', 'big', 'index.js'), '');
    writeFileSync(join(repo, '.env'), 'SECRET=1');

    const app = newApp();
    const stack = new Stack(app, 'Img', { env: { account: '123456789012', region: 'us-east-1' } });
    const td = new ecs.FargateTaskDefinition(stack, 'Td');
    td.addContainer('C', { image: workerImageFromRepository(repo) });
    const assembly = app.synth();
    const staged = readdirSync(assembly.directory).find((d) => d.startsWith('asset.'));
    expect(staged).toBeDefined();
    const files = readdirSync(join(assembly.directory, staged ?? ''), {
      recursive: true,
      withFileTypes: true,
    })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(join(assembly.directory, staged ?? '').length + 1))
      .sort();
    expect(files).toEqual(['dist/worker.js', 'workers/Dockerfile']);
  });
});
