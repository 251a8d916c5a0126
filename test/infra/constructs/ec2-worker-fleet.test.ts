import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DataStore } from '../../../infra/constructs/data-store.js';
import {
  DRAIN_LIFECYCLE_HOOK_NAME,
  Ec2WorkerFleet,
  environmentFileValue,
} from '../../../infra/constructs/ec2-worker-fleet.js';
import { JobQueue } from '../../../infra/constructs/job-queue.js';
import { backlogPerWorkerExpression } from '../../../infra/constructs/worker-fleet-base.js';
import { backlogPerWorkerTarget, DEFAULT_SCALING } from '../../../infra/scaling.js';
import { iamStatements, newStack, stubBundle } from '../support.js';

function synth(props: Partial<ConstructorParameters<typeof Ec2WorkerFleet>[2]> = {}) {
  const stack = newStack();
  const jobQueue = new JobQueue(stack, 'JobQueue');
  const dataStore = new DataStore(stack, 'DataStore');
  const fleet = new Ec2WorkerFleet(stack, 'Fleet', {
    jobQueue,
    dataStore,
    bundlePath: stubBundle(),
    ...props,
  });
  return { stack, fleet, template: Template.fromStack(stack) };
}

/** The boot script with CloudFormation intrinsics flattened to placeholders. */
function userDataOf(template: Template): string {
  const lt = Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0];
  const join = lt?.Properties.LaunchTemplateData.UserData['Fn::Base64']['Fn::Join'][1] as unknown[];
  return join.map((p) => (typeof p === 'string' ? p : '<token>')).join('');
}

describe('Ec2WorkerFleet', () => {
  const { template, stack, fleet } = synth();

  it('launches from a launch template (no launch configuration) with IMDSv2 required and encrypted EBS', () => {
    template.resourceCountIs('AWS::AutoScaling::LaunchConfiguration', 0);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: Match.objectLike({ HttpTokens: 'required', InstanceMetadataTags: 'enabled' }),
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3' }) },
        ],
        ImageId: { Ref: Match.stringLikeRegexp('al2023') },
      }),
    });
  });

  it('mixes Spot and on-demand by the Spot share, with group metrics on for scaling', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      MaxSize: String(DEFAULT_SCALING.maxWorkers),
      CapacityRebalance: true,
      MixedInstancesPolicy: {
        InstancesDistribution: Match.objectLike({
          OnDemandBaseCapacity: 0,
          OnDemandPercentageAboveBaseCapacity: 30,
          SpotAllocationStrategy: 'price-capacity-optimized',
        }),
        LaunchTemplate: Match.objectLike({
          Overrides: [
            { InstanceType: 't3.small' },
            { InstanceType: 't3a.small' },
            { InstanceType: 't2.small' },
          ],
        }),
      },
      MetricsCollection: [
        {
          Granularity: '1Minute',
          Metrics: Match.arrayWith(['GroupDesiredCapacity', 'GroupInServiceInstances']),
        },
      ],
    });
  });

  it('drains before termination: a lifecycle hook, and a boot script that stops the worker and completes it', () => {
    template.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      LifecycleHookName: DRAIN_LIFECYCLE_HOOK_NAME,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: 150,
      DefaultResult: 'CONTINUE',
    });
    const script = userDataOf(template);
    expect(script).toContain('dnf install -y nodejs22');
    expect(script).toMatch(/aws s3 cp 's3:\/\/cdk-[a-z0-9]+-assets-[^']+\.js' '\/opt\/flotilla\/worker\.js'/);
    expect(script).toContain('User=flotilla');
    expect(script).toContain('KillSignal=SIGTERM');
    expect(script).toContain('TimeoutStopSec=100');
    expect(script).toContain('autoscaling/target-lifecycle-state');
    expect(script).toMatch(
      /systemctl stop flotilla-worker\.service\naws autoscaling complete-lifecycle-action/,
    );
    expect(script).toContain(`--lifecycle-hook-name ${DRAIN_LIFECYCLE_HOOK_NAME}`);
    expect(script).toContain('FLOTILLA_SCALE_IN_GUARD=asg');
  });

  it('tracks backlog per worker over in-service instances, and wakes from zero with a step policy', () => {
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        TargetValue: backlogPerWorkerTarget(DEFAULT_SCALING),
        CustomizedMetricSpecification: {
          Metrics: Match.arrayWith([
            Match.objectLike({
              Id: 'running',
              MetricStat: Match.objectLike({
                Metric: Match.objectLike({
                  Namespace: 'AWS/AutoScaling',
                  MetricName: 'GroupInServiceInstances',
                }),
              }),
            }),
            Match.objectLike({ Expression: backlogPerWorkerExpression(['default']), ReturnData: true }),
          ]),
        },
      },
    });
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      AdjustmentType: 'ExactCapacity',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: DEFAULT_SCALING.wakeWorkers }],
    });
    // and surges on one datapoint when backlog per worker is 3x, 6x, 12x the target
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'StepScaling',
      AdjustmentType: 'PercentChangeInCapacity',
      StepAdjustments: Match.arrayWith([
        Match.objectLike({ MetricIntervalLowerBound: 0, ScalingAdjustment: 100 }),
      ]),
    });
  });

  it('lets an instance protect itself and complete its lifecycle action in its own group only', () => {
    const statements = iamStatements(template);
    const guard = statements.find((s) => s.Action.includes('autoscaling:SetInstanceProtection'));
    expect(guard?.Action.sort()).toEqual([
      'autoscaling:CompleteLifecycleAction',
      'autoscaling:SetInstanceProtection',
    ]);
    const groupId = stack.getLogicalId(fleet.autoScalingGroup.node.defaultChild as never);
    expect(JSON.stringify(guard?.Resource)).toContain(`autoScalingGroupName/`);
    expect(JSON.stringify(guard?.Resource)).toContain(groupId);
    expect(statements.some((s) => s.Resource === '*')).toBe(false);
  });

  it("ships the command handlers' code and packages, and passes their bindings intact through the environment file", () => {
    const code = mkdtempSync(join(tmpdir(), 'flotilla-code-'));
    writeFileSync(join(code, 'stats.py'), 'print(1)\n');
    const exec = { stats: `python3 stats.py --label "a b" $HOME` };
    const { template: t } = synth({ codePath: code, packages: ['python3-pillow'], exec });
    const script = userDataOf(t);
    expect(script).toContain('dnf install -y nodejs22 unzip python3-pillow');
    expect(script).toMatch(/aws s3 cp 's3:\/\/cdk-[a-z0-9]+-assets-[^']+\.zip' '\/opt\/flotilla\/app\.zip'/);
    expect(script).toContain('unzip -q -o /opt/flotilla/app.zip -d /opt/flotilla/app');
    expect(script).toContain('WorkingDirectory=/opt/flotilla/app');
    // systemd's EnvironmentFile reads a double-quoted value with \\ \" \` \$ escaped: the JSON arrives whole.
    expect(script).toContain(
      `FLOTILLA_EXEC="{\\"stats\\":\\"python3 stats.py --label \\\\\\"a b\\\\\\" \\$HOME\\"}"`,
    );
    expect(environmentFileValue('plain-value_1')).toBe('plain-value_1');
    expect(() => synth({ packages: ['evil; rm -rf /'] })).toThrow(
      /packages: 'evil; rm -rf \/' is not a package name/,
    );
  });

  it('refuses instance types of mixed architectures and an overlong drain', () => {
    expect(() => synth({ instanceTypes: ['t3.small', 't4g.small'] })).toThrow(/mix CPU architectures/);
    expect(() => synth({ drainTime: Duration.hours(3) })).toThrow(/drainTime must be at most 7140 seconds/);
  });
});
