/**
 * The primary stack, both flavours, deployed to moto_server. moto (5.2) cannot create the whole
 * stack: this test shows what blocks it, with moto's own evidence, then deploys the rest of the
 * synthesized template and checks through the SDK what was created. docs/deploy.md keeps the list.
 *
 * Assets go to a pre-created bucket (the `assetBucket` setting, no `cdk bootstrap`), published
 * from the cloud assembly's asset manifest as `cdk deploy` would.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  type CloudFormationClient,
  CreateStackCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeClustersCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../core/aws.js';
import { DATA_LAYOUT, prefixesFor } from '../../core/layout.js';
import { buildApp } from '../../infra/app.js';
import { DEFAULT_QUEUE, STACK_OUTPUTS } from '../../infra/definitions.js';
import { cloudFormationClient } from '../../scripts/target.js';
import { startMoto, uniqueName } from '../support/emulators.js';
import { newApp, stubBundle, TEST_IMAGE } from './support.js';

const ASSETS = 'flotilla-moto-assets';

/** The resource types moto's CloudFormation can create, from moto itself (asked once: a slow import). */
let supportedTypes: Set<string> | undefined;
const motoTypes = (): Set<string> =>
  (supportedTypes ??= new Set(
    JSON.parse(
      execFileSync('python3', [
        '-c',
        'import json; from moto.cloudformation.parsing import get_model_map; print(json.dumps(sorted(get_model_map())))',
      ]).toString(),
    ) as string[],
  ));

/** What moto 5.2.1 cannot create, per flavour (docs/deploy.md lists the same). */
const MOTO_LACKS = {
  common: [
    'AWS::CloudWatch::Alarm',
    'AWS::S3::BucketPolicy',
    'AWS::SNS::TopicPolicy',
    'AWS::SQS::QueuePolicy',
    'AWS::Scheduler::ScheduleGroup',
    'Custom::VpcRestrictDefaultSG',
  ],
  fargate: [
    'AWS::ApplicationAutoScaling::ScalableTarget',
    'AWS::ApplicationAutoScaling::ScalingPolicy',
    'AWS::ECS::ClusterCapacityProviderAssociations',
  ],
  ec2: ['AWS::AutoScaling::LifecycleHook', 'AWS::AutoScaling::ScalingPolicy'],
};

type Template = { Resources: Record<string, { Type: string }>; Outputs?: Record<string, unknown> };

/** The template without `types`, and without whatever refers to a removed resource, transitively. */
function without(template: Template, types: ReadonlySet<string>): Template {
  const resources = { ...template.Resources };
  const gone = new Set(Object.keys(resources).filter((id) => types.has(resources[id]!.Type)));
  const refersToGone = (v: unknown) => [...gone].some((id) => JSON.stringify(v).includes(`"${id}"`));
  for (let changed = true; changed; ) {
    changed = false;
    for (const [id, r] of Object.entries(resources)) {
      if (!gone.has(id) && refersToGone(r)) {
        gone.add(id);
        changed = true;
      }
    }
  }
  for (const id of gone) delete resources[id];
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).filter(([, o]) => !refersToGone(o)),
  );
  return { ...template, Resources: resources, Outputs: outputs };
}

let moto: Awaited<ReturnType<typeof startMoto>>;
beforeAll(async () => {
  moto = await startMoto();
  await moto.s3.send(new CreateBucketCommand({ Bucket: ASSETS }));
}, 60_000);
afterAll(async () => moto?.stop());

describe.each(['fargate', 'ec2'] as const)('the primary stack, %s flavour, on moto', (fleet) => {
  const stackName = uniqueName(`fp-${fleet}`);
  const app = newApp({
    env: 'moto',
    flotilla: { environments: { moto: { fleet, stackName, assetBucket: ASSETS } } },
  });
  const { primary } = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  const assembly = app.synth();
  const template = assembly.getStackByName(stackName).template as Template;
  const lacking = new Set([...MOTO_LACKS.common, ...MOTO_LACKS[fleet]]);
  let cfn: CloudFormationClient;
  let physical: Map<string, string>;

  beforeAll(async () => {
    cfn = await cloudFormationClient(moto.config);
    // Publish the file assets where the template looks for them, as `cdk deploy` would.
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, `${stackName}.assets.json`), 'utf8'),
    ) as {
      files: Record<
        string,
        {
          source: { path: string; packaging?: string };
          destinations: Record<string, { bucketName: string; objectKey: string }>;
        }
      >;
    };
    for (const asset of Object.values(manifest.files)) {
      if (asset.source.packaging === 'zip') continue; // custom-resource code: moto runs no custom resources
      for (const d of Object.values(asset.destinations)) {
        await moto.s3.send(
          new PutObjectCommand({
            Bucket: d.bucketName,
            Key: d.objectKey,
            Body: readFileSync(join(assembly.directory, asset.source.path)),
          }),
        );
      }
    }
  }, 60_000);
  afterAll(() => cfn?.destroy());

  it('names exactly the resource types moto cannot create, from moto itself', () => {
    const supported = motoTypes();
    const types = new Set(Object.values(template.Resources).map((r) => r.Type));
    expect([...types].filter((t) => !supported.has(t)).sort()).toEqual([...lacking].sort());
  });

  it('is refused as synthesized: moto skips the alarms, so the dashboard that names them fails validation', async () => {
    const err = await cfn
      .send(
        new CreateStackCommand({
          StackName: `${stackName}-whole`,
          TemplateBody: JSON.stringify(template),
          Capabilities: ['CAPABILITY_IAM'],
        }),
      )
      .catch((e: Error) => e);
    expect(String((err as Error)?.message)).toMatch(/Fn::GetAtt references undefined resource \w*Alarm/);
  });

  it('creates the rest: queues, bucket, roles with the layout grants, and the fleet with the worker environment', async () => {
    const rest = without(template, lacking);
    await cfn.send(
      new CreateStackCommand({
        StackName: stackName,
        TemplateBody: JSON.stringify(rest),
        Capabilities: ['CAPABILITY_IAM'],
      }),
    );
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    expect(stack?.StackStatus).toBe('CREATE_COMPLETE');
    const out = (k: string) => stack?.Outputs?.find((o) => o.OutputKey === k)?.OutputValue ?? '';
    const res = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }));
    physical = new Map(
      (res.StackResources ?? []).map((r) => [r.LogicalResourceId ?? '', r.PhysicalResourceId ?? '']),
    );
    const id = (c: { node: { defaultChild?: unknown } }) =>
      physical.get(primary.getLogicalId(c.node.defaultChild as never)) ?? '';

    const q = await moto.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: out(STACK_OUTPUTS.queueUrl), AttributeNames: ['All'] }),
    );
    expect(q.Attributes?.VisibilityTimeout).toBe(String(DEFAULT_QUEUE.visibilityTimeoutSeconds));
    expect(JSON.parse(q.Attributes?.RedrivePolicy ?? '{}').maxReceiveCount).toBe(
      DEFAULT_QUEUE.maxReceiveCount,
    );
    await moto.s3.send(new HeadBucketCommand({ Bucket: out(STACK_OUTPUTS.bucket) }));

    // Each role's inline policy as deployed: the worker's object grants are its part of the layout.
    const iam = new IAMClient(clientConfig(moto.config));
    const workerRole =
      fleet === 'fargate'
        ? (primary.fleet as never as { taskDefinition: { taskRole: never } }).taskDefinition.taskRole
        : (primary.fleet as never as { role: never }).role;
    const policyText = async (roleName: string) => {
      const names = (await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? [];
      const docs = await Promise.all(
        names.map((PolicyName) => iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName }))),
      );
      return docs.map((d) => decodeURIComponent(d.PolicyDocument ?? '')).join('\n');
    };
    const workerPolicy = await policyText(id(workerRole));
    for (const p of prefixesFor(DATA_LAYOUT, 'worker', 'read'))
      expect(workerPolicy).toContain(`${out(STACK_OUTPUTS.bucket)}/${p}*`);
    expect(await policyText(id(primary.submitterRole))).toContain(`${out(STACK_OUTPUTS.bucket)}/inputs/*`);
    expect(await policyText(id(primary.exporterRole))).toContain('s3:GetBucketVersioning');
    iam.destroy();

    if (fleet === 'fargate') {
      const ecs = new ECSClient(clientConfig(moto.config));
      const f = primary.fleet as never as { cluster: never; taskDefinition: never };
      const clusters = await ecs.send(new DescribeClustersCommand({ clusters: [id(f.cluster)] }));
      expect(clusters.clusters?.[0]?.status).toBe('ACTIVE');
      const td = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: id(f.taskDefinition) }));
      const env = Object.fromEntries(
        (td.taskDefinition?.containerDefinitions?.[0]?.environment ?? []).map((e) => [e.name, e.value]),
      );
      expect(env).toMatchObject({
        FLOTILLA_QUEUE_URL: out(STACK_OUTPUTS.queueUrl),
        FLOTILLA_DLQ_URL: out(STACK_OUTPUTS.dlqUrl),
        FLOTILLA_BUCKET: out(STACK_OUTPUTS.bucket),
        FLOTILLA_SCALE_IN_GUARD: 'ecs',
      });
      ecs.destroy();
    } else {
      const asg = new AutoScalingClient(clientConfig(moto.config));
      const g = (primary.fleet as never as { autoScalingGroup: never }).autoScalingGroup;
      const groups = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [id(g)] }));
      expect(groups.AutoScalingGroups?.[0]?.MaxSize).toBe(primary.fleet.scaling.maxWorkers);
      expect(groups.AutoScalingGroups?.[0]?.MinSize).toBe(primary.fleet.scaling.minWorkers);
      asg.destroy();
    }
  }, 120_000);
});
