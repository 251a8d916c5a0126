import { join } from 'node:path';
import { type CfnElement, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type { Construct } from 'constructs';
import { WORKER_BUNDLE_FILE } from '../worker-build.js';
import {
  type MetricRef,
  type ResolvedFleetProps,
  WorkerFleetBase,
  type WorkerFleetBaseProps,
} from './worker-fleet-base.js';

/** Name of the termination lifecycle hook the instance completes after draining. */
export const DRAIN_LIFECYCLE_HOOK_NAME = 'flotilla-drain';
/** Time kept between the runtime's drain deadline and systemd's SIGKILL. */
const STOP_MARGIN_SECONDS = 10;
/** Longest a termination lifecycle hook may wait (the ASG maximum heartbeat timeout). */
const MAX_HOOK_SECONDS = 7200;

export interface Ec2WorkerFleetProps extends WorkerFleetBaseProps {
  /**
   * Path of the worker bundle (one JavaScript file), shipped as an S3 asset (not with
   * `handlers`, which makes the bundle).
   * @default - the `handlers` bundle, else the package's dist/worker.js (`npm run build:worker` in a clone)
   */
  readonly bundlePath?: string;
  /**
   * Instance types for the Spot/on-demand mix; several types make Spot interruptions rarer.
   * All must share one CPU architecture.
   * @default ['t3.small', 't3a.small', 't2.small']
   */
  readonly instanceTypes?: readonly string[];
  /**
   * Size of the encrypted root volume.
   * @default 8
   */
  readonly rootVolumeGiB?: number;
  /**
   * A directory holding the code your command handlers run (cdk.json `exec`), shipped as an S3
   * asset and unpacked to /opt/flotilla/app, the worker's working directory: `exec` can then say
   * `python3 thumbnail.py`. (The EC2 fleet runs no container: this is what an image built
   * `FROM` the worker image adds on Fargate.)
   * @default - none: the worker runs in /opt/flotilla with its bundled handlers only
   */
  readonly codePath?: string;
  /**
   * Extra packages the instances install with dnf at boot, for your command handlers (python3
   * itself comes with Amazon Linux 2023), e.g. ['python3-pillow'].
   * @default - none
   */
  readonly packages?: readonly string[];
}

/**
 * Workers as an Auto Scaling group of Amazon Linux 2023 instances with Node 22, from a launch
 * template (IMDSv2 only, encrypted EBS), mixing Spot and on-demand. The bundle comes from an S3
 * asset and runs under systemd, so SIGTERM reaches node. Each instance takes instance scale-in
 * protection while it holds a job, and a termination lifecycle hook lets it drain before it goes.
 */
export class Ec2WorkerFleet extends WorkerFleetBase {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.Role;
  readonly bundle: s3assets.Asset;
  /** The command handlers' code, when `codePath` is given. */
  readonly code?: s3assets.Asset;
  readonly runningWorkersMetric: MetricRef;
  readonly desiredWorkersMetric: MetricRef;

  constructor(scope: Construct, id: string, props: Ec2WorkerFleetProps) {
    super(scope, id, props);
    const instanceTypes = (props.instanceTypes ?? ['t3.small', 't3a.small', 't2.small']).map(
      (t) => new ec2.InstanceType(t),
    );
    const architecture = instanceTypes[0]?.architecture ?? ec2.InstanceArchitecture.X86_64;

    this.role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Flotilla EC2 workers: consume jobs, read payloads, write results',
    });
    this.bundle = new s3assets.Asset(this, 'WorkerBundle', {
      path: props.bundlePath ?? join(this.workerSource, WORKER_BUNDLE_FILE),
    });
    // The one bundle object, not the whole asset bucket.
    iam.Grant.addToPrincipal({
      grantee: this.role,
      actions: ['s3:GetObject'],
      resourceArns: [this.bundle.bucket.arnForObjects(this.bundle.s3ObjectKey)],
    });
    if (props.codePath) {
      this.code = new s3assets.Asset(this, 'HandlerCode', { path: props.codePath });
      iam.Grant.addToPrincipal({
        grantee: this.role,
        actions: ['s3:GetObject'],
        resourceArns: [this.code.bucket.arnForObjects(this.code.s3ObjectKey)],
      });
    }
    this.grantWorker(this.role);

    const publicSubnets = this.vpc.privateSubnets.length === 0;
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: ec2.MachineImage.latestAmazonLinux2023({
        cpuType:
          architecture === ec2.InstanceArchitecture.ARM_64
            ? ec2.AmazonLinuxCpuType.ARM_64
            : ec2.AmazonLinuxCpuType.X86_64,
      }),
      role: this.role,
      securityGroup: this.securityGroup,
      userData: this.userData(props.packages ?? []),
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: true,
      associatePublicIpAddress: publicSubnets,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 8, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const onDemandPercent = 100 - Math.round(this.spotShare * 100);
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: this.vpc,
      vpcSubnets: { subnets: publicSubnets ? this.vpc.publicSubnets : this.vpc.privateSubnets },
      minCapacity: this.scaling.minWorkers,
      maxCapacity: this.scaling.maxWorkers,
      mixedInstancesPolicy: {
        launchTemplate: this.launchTemplate,
        launchTemplateOverrides: instanceTypes.map((instanceType) => ({ instanceType })),
        instancesDistribution: {
          onDemandBaseCapacity: 0,
          onDemandPercentageAboveBaseCapacity: onDemandPercent,
          spotAllocationStrategy: autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
        },
      },
      capacityRebalance: onDemandPercent < 100,
      groupMetrics: [
        new autoscaling.GroupMetrics(
          autoscaling.GroupMetric.DESIRED_CAPACITY,
          autoscaling.GroupMetric.IN_SERVICE_INSTANCES,
        ),
      ],
      defaultInstanceWarmup: Duration.seconds(this.scaling.scaleOutCooldownSeconds),
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-EC26',
      reason:
        'The root volume is encrypted in the launch template; the rule does not follow a MixedInstancesPolicy to its launch template (the contract test asserts Encrypted: true).',
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'NIST.800.53.R5-EC2IMDSv2Enabled',
      reason:
        'The launch template requires IMDSv2 (HttpTokens: required); the rule does not follow a MixedInstancesPolicy to its launch template (the contract test asserts it).',
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'A fleet that scales to zero and back launches and terminates often; e-mailing every event would be noise. Scaling activity is in the ASG history and on the dashboard.',
    });

    this.autoScalingGroup.addLifecycleHook('DrainHook', {
      lifecycleHookName: DRAIN_LIFECYCLE_HOOK_NAME,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: Duration.seconds(this.drainTime.toSeconds() + 60),
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });

    // Scale-in protection and lifecycle completion, for this group only. A separate policy
    // (not the role's default one) so the group does not depend on it and no cycle forms.
    const guardPolicy = new iam.Policy(this, 'ScaleInGuardPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['autoscaling:SetInstanceProtection', 'autoscaling:CompleteLifecycleAction'],
          resources: [this.autoScalingGroup.autoScalingGroupArn],
        }),
      ],
    });

    const groupId = Stack.of(this).getLogicalId(this.autoScalingGroup.node.defaultChild as CfnElement);
    Validations.of(guardPolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<${groupId}>]`,
      reason:
        "This group's own ARN; the '*' is the group id Auto Scaling assigns, which no template can know.",
    });

    const dimensions = { AutoScalingGroupName: this.autoScalingGroup.autoScalingGroupName };
    this.runningWorkersMetric = {
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupInServiceInstances',
      dimensions,
      statistic: 'Average',
    };
    this.desiredWorkersMetric = {
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupDesiredCapacity',
      dimensions,
      statistic: 'Average',
    };

    new autoscaling.CfnScalingPolicy(this, 'BacklogPerWorkerPolicy', {
      autoScalingGroupName: this.autoScalingGroup.autoScalingGroupName,
      policyType: 'TargetTrackingScaling',
      estimatedInstanceWarmup: this.scaling.scaleOutCooldownSeconds,
      targetTrackingConfiguration: {
        targetValue: this.backlogPerWorkerTarget,
        customizedMetricSpecification: { metrics: this.backlogPerWorkerQueries() },
      },
    });
    const surge = new autoscaling.CfnScalingPolicy(this, 'SurgePolicy', {
      autoScalingGroupName: this.autoScalingGroup.autoScalingGroupName,
      policyType: 'StepScaling',
      adjustmentType: 'PercentChangeInCapacity',
      metricAggregationType: 'Average',
      minAdjustmentMagnitude: 1,
      estimatedInstanceWarmup: this.scaling.scaleOutCooldownSeconds,
      stepAdjustments: this.surgeStepAdjustments(),
    });
    this.addSurgeAlarm(surge.ref);
    if (this.needsWakeFromZero) {
      const wake = new autoscaling.CfnScalingPolicy(this, 'WakeFromZeroPolicy', {
        autoScalingGroupName: this.autoScalingGroup.autoScalingGroupName,
        policyType: 'StepScaling',
        adjustmentType: 'ExactCapacity',
        metricAggregationType: 'Maximum',
        estimatedInstanceWarmup: this.scaling.scaleOutCooldownSeconds,
        stepAdjustments: [{ metricIntervalLowerBound: 0, scalingAdjustment: this.scaling.wakeWorkers }],
      });
      this.addWakeFromZeroAlarm(wake.ref);
    }
  }

  protected override validate(merged: ResolvedFleetProps): string[] {
    const problems = super.validate(merged);
    const drain = merged.drainTime.toSeconds();
    if (drain + 60 > MAX_HOOK_SECONDS)
      problems.push(`drainTime must be at most ${MAX_HOOK_SECONDS - 60} seconds`);
    const p = merged as Ec2WorkerFleetProps;
    if (p.bundlePath && p.handlers)
      problems.push('give bundlePath or handlers, not both: the bundle is made from the handlers');
    const types = p.instanceTypes ?? [];
    const archs = new Set(types.map((t) => new ec2.InstanceType(t).architecture));
    if (archs.size > 1) problems.push(`instanceTypes mix CPU architectures: ${types.join(', ')}`);
    if (p.instanceTypes && types.length === 0) problems.push('instanceTypes must name at least one type');
    for (const pkg of p.packages ?? [])
      if (!/^[A-Za-z0-9][A-Za-z0-9_.+:-]*$/.test(pkg))
        problems.push(`packages: '${pkg}' is not a package name`);
    if (p.rootVolumeGiB !== undefined && (!Number.isInteger(p.rootVolumeGiB) || p.rootVolumeGiB < 8)) {
      problems.push(`rootVolumeGiB must be a whole number >= 8, got ${p.rootVolumeGiB}`);
    }
    return problems;
  }

  /**
   * Boot script: install Node 22, fetch the bundle, run it under systemd as an unprivileged
   * user, and start the lifecycle watcher that drains the worker on a termination action.
   */
  private userData(packages: readonly string[]): ec2.UserData {
    const region = Stack.of(this).region;
    const stopSeconds = this.drainTime.toSeconds() + STOP_MARGIN_SECONDS;
    const env = Object.entries(this.workerEnvironment('asg'))
      .map(([k, v]) => `${k}=${environmentFileValue(v)}`)
      .join('\n');
    const workDir = this.code ? '/opt/flotilla/app' : '/opt/flotilla';
    const ud = ec2.UserData.forLinux();
    ud.addCommands(
      'set -euo pipefail',
      `dnf install -y ${['nodejs22', ...(this.code ? ['unzip'] : []), ...packages].join(' ')}`,
      'NODE=$(command -v node-22 || command -v node)',
      'id flotilla >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin flotilla',
      'mkdir -p /opt/flotilla /etc/flotilla',
    );
    ud.addS3DownloadCommand({
      bucket: this.bundle.bucket,
      bucketKey: this.bundle.s3ObjectKey,
      localFile: '/opt/flotilla/worker.js',
      region,
    });
    if (this.code) {
      ud.addS3DownloadCommand({
        bucket: this.code.bucket,
        bucketKey: this.code.s3ObjectKey,
        localFile: '/opt/flotilla/app.zip',
        region,
      });
      ud.addCommands(
        'unzip -q -o /opt/flotilla/app.zip -d /opt/flotilla/app',
        'chmod -R a+rX /opt/flotilla/app',
      );
    }
    ud.addCommands(
      'chmod 0644 /opt/flotilla/worker.js',
      `cat > /etc/flotilla/worker.env <<'FLOTILLA_ENV'\n${env}\nFLOTILLA_ENV`,
      `cat > /etc/systemd/system/flotilla-worker.service <<FLOTILLA_UNIT
[Unit]
Description=Flotilla worker
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=flotilla
EnvironmentFile=/etc/flotilla/worker.env
WorkingDirectory=${workDir}
ExecStart=\${NODE} /opt/flotilla/worker.js
# SIGTERM to node only; it stops taking jobs, finishes the running ones and exits 0.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=${stopSeconds}
Restart=on-failure
RestartSec=5
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
FLOTILLA_UNIT`,
      `cat > /usr/local/bin/flotilla-lifecycle <<'FLOTILLA_LIFECYCLE'
#!/bin/bash
# Waits until the Auto Scaling group wants this instance gone (termination lifecycle action),
# stops the worker (SIGTERM: it drains and exits 0), then lets the termination continue.
set -u
imds() {
  local token
  token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') || return 1
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
until [ "$(imds autoscaling/target-lifecycle-state)" = "Terminated" ]; do sleep 5; done
logger -t flotilla "termination lifecycle action: draining the worker"
systemctl stop flotilla-worker.service
aws autoscaling complete-lifecycle-action --region ${region} \\
  --auto-scaling-group-name "$(imds tags/instance/aws:autoscaling:groupName)" \\
  --instance-id "$(imds instance-id)" \\
  --lifecycle-hook-name ${DRAIN_LIFECYCLE_HOOK_NAME} --lifecycle-action-result CONTINUE
FLOTILLA_LIFECYCLE`,
      'chmod 0755 /usr/local/bin/flotilla-lifecycle',
      `cat > /etc/systemd/system/flotilla-lifecycle.service <<'FLOTILLA_UNIT'
[Unit]
Description=Flotilla drain-on-termination watcher
After=flotilla-worker.service

[Service]
Type=simple
ExecStart=/usr/local/bin/flotilla-lifecycle
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
FLOTILLA_UNIT`,
      'systemctl daemon-reload',
      'systemctl enable --now flotilla-worker.service flotilla-lifecycle.service',
    );
    return ud;
  }
}

/**
 * A value for a systemd EnvironmentFile: as it is when plain, else double-quoted with `\`, `"`,
 * `` ` `` and `$` escaped, so a JSON value (FLOTILLA_EXEC, FLOTILLA_STORAGE) reaches the worker
 * intact. A CDK token (a queue URL, a bucket name) is left for CloudFormation to fill in.
 */
export function environmentFileValue(value: string): string {
  if (Token.isUnresolved(value) || /^[A-Za-z0-9_./:@,+=-]*$/.test(value)) return value;
  return `"${value.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`;
}
