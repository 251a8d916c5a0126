import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../../core/aws.js';
import { createScaleInGuard, parseScaleInGuardKind } from '../../../workers/runtime/scale-in-guard.js';
import { startMoto, uniqueName } from '../../support/emulators.js';
import { fakeEndpoint } from '../../support/fake-http.js';

describe('ECS task scale-in protection', () => {
  it('turns protection on with an expiry when busy and off when idle, through the agent', async () => {
    const agent = await fakeEndpoint(() => ({
      body: JSON.stringify({ protection: { ProtectionEnabled: true } }),
    }));
    try {
      const guard = createScaleInGuard({
        kind: 'ecs',
        endpoint: {},
        ecsAgentUri: agent.url,
        expiresInMinutes: 30,
      });
      await guard.protect(true);
      await guard.protect(false);
      expect(agent.requests.map((r) => [r.method, r.url, JSON.parse(r.body)])).toEqual([
        ['PUT', '/task-protection/v1/state', { ProtectionEnabled: true, ExpiresInMinutes: 30 }],
        ['PUT', '/task-protection/v1/state', { ProtectionEnabled: false }],
      ]);
    } finally {
      await agent.close();
    }
  });

  it('does not call the agent again for a state it already confirmed', async () => {
    const agent = await fakeEndpoint(() => ({ body: '{"protection":{}}' }));
    try {
      const guard = createScaleInGuard({ kind: 'ecs', endpoint: {}, ecsAgentUri: agent.url });
      await Promise.all([
        guard.protect(true),
        guard.protect(true),
        guard.protect(false),
        guard.protect(false),
      ]);
      expect(agent.requests.map((r) => JSON.parse(r.body).ProtectionEnabled)).toEqual([true, false]);
    } finally {
      await agent.close();
    }
  });

  it('logs a refusal or an unreachable agent and never throws', async () => {
    const agent = await fakeEndpoint(() => ({
      body: JSON.stringify({ failure: { Arn: 'arn:task', Reason: 'TASK_NOT_VALID' } }),
    }));
    const lines: string[] = [];
    try {
      const guard = createScaleInGuard({
        kind: 'ecs',
        endpoint: {},
        ecsAgentUri: agent.url,
        log: (m) => lines.push(m),
      });
      await expect(guard.protect(true)).resolves.toBeUndefined();
      const dead = createScaleInGuard({
        kind: 'ecs',
        endpoint: {},
        ecsAgentUri: 'http://127.0.0.1:1',
        requestTimeoutMs: 500,
        log: (m) => lines.push(m),
      });
      await expect(dead.protect(true)).resolves.toBeUndefined();
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain('TASK_NOT_VALID');
      expect(lines[1]).toContain('could not turn protection on');
    } finally {
      await agent.close();
    }
  });

  it('retries after a failure instead of believing the state changed', async () => {
    let fail = true;
    const agent = await fakeEndpoint(() =>
      fail ? { status: 500, body: '{"error":{"Code":"ServerException"}}' } : { body: '{"protection":{}}' },
    );
    try {
      const guard = createScaleInGuard({ kind: 'ecs', endpoint: {}, ecsAgentUri: agent.url });
      await guard.protect(true);
      fail = false;
      await guard.protect(true);
      expect(agent.requests).toHaveLength(2);
    } finally {
      await agent.close();
    }
  });

  it('is a no-op with a log line when ECS_AGENT_URI is missing', async () => {
    const lines: string[] = [];
    const guard = createScaleInGuard({ kind: 'ecs', endpoint: {}, log: (m) => lines.push(m) });
    await guard.protect(true);
    expect(guard.name).toBe('none');
    expect(lines[0]).toContain('ECS_AGENT_URI');
  });
});

describe('guard kind from the environment', () => {
  it('accepts none, ecs and asg and rejects anything else with one clear line', () => {
    expect(parseScaleInGuardKind(undefined)).toBe('none');
    expect(parseScaleInGuardKind('ASG')).toBe('asg');
    expect(() => parseScaleInGuardKind('k8s')).toThrow(/must be one of none, ecs, asg; got 'k8s'/);
  });
});

describe('EC2 Auto Scaling instance scale-in protection (moto)', () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let autoscaling: AutoScalingClient;
  let group: string;
  let instanceId: string;

  beforeAll(async () => {
    moto = await startMoto();
    autoscaling = new AutoScalingClient(clientConfig(moto.config));
    group = uniqueName('asg');
    await autoscaling.send(
      new CreateLaunchConfigurationCommand({
        LaunchConfigurationName: group,
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
      }),
    );
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: group,
        LaunchConfigurationName: group,
        MinSize: 1,
        MaxSize: 1,
        DesiredCapacity: 1,
        AvailabilityZones: ['us-east-1a'],
      }),
    );
    const out = await autoscaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }),
    );
    instanceId = out.AutoScalingGroups?.[0]?.Instances?.[0]?.InstanceId ?? '';
    expect(instanceId).not.toBe('');
  });

  afterAll(async () => {
    autoscaling?.destroy();
    await moto?.stop();
  });

  const protectedNow = async () => {
    const out = await autoscaling.send(
      new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
    );
    return out.AutoScalingInstances?.[0]?.ProtectedFromScaleIn;
  };

  /** IMDSv2: a token from PUT, then GETs that must carry it. */
  const fakeImds = (withGroupTag: boolean) =>
    fakeEndpoint((req) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return { body: 'tok-1' };
      if (req.headers['x-aws-ec2-metadata-token'] !== 'tok-1') return { status: 401, body: '' };
      if (req.url === '/latest/meta-data/instance-id') return { body: instanceId };
      if (withGroupTag && req.url === '/latest/meta-data/tags/instance/aws:autoscaling:groupName') {
        return { body: group };
      }
      return { status: 404, body: '' };
    });

  it('protects this instance while busy and releases it when idle, finding it through IMDSv2 tags', async () => {
    const imds = await fakeImds(true);
    try {
      const guard = createScaleInGuard({ kind: 'asg', endpoint: moto.config, imdsUrl: imds.url });
      await guard.protect(true);
      expect(await protectedNow()).toBe(true);
      await guard.protect(false);
      expect(await protectedNow()).toBe(false);
      expect(imds.requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
    } finally {
      await imds.close();
    }
  });

  it('finds the group with DescribeAutoScalingInstances when instance tags are off', async () => {
    const imds = await fakeImds(false);
    try {
      const guard = createScaleInGuard({ kind: 'asg', endpoint: moto.config, imdsUrl: imds.url });
      await guard.protect(true);
      expect(await protectedNow()).toBe(true);
      await guard.protect(false);
      expect(await protectedNow()).toBe(false);
    } finally {
      await imds.close();
    }
  });
});
