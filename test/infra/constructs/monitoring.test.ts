/**
 * The dashboard graphs the metrics the workers emit as EMF, under the names they emit them; the
 * crash-loop alarm counts a Fargate fleet's tasks that keep exiting abnormally.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { COUNTER_METRICS, JOB_TYPE_METRICS, METRICS_NAMESPACE } from '../../../core/worker-metrics.js';
import { buildApp } from '../../../infra/app.js';
import { newApp, stubBundle, TEST_IMAGE } from '../support.js';

describe('Monitoring dashboard', () => {
  const app = newApp({ env: 'test', flotilla: { environments: { test: { fleet: 'fargate' } } } });
  const { primary } = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  const template = Template.fromStack(primary);
  const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
  const queueNameRef = JSON.stringify({
    'Fn::GetAtt': [primary.getLogicalId(primary.jobQueue.queue.node.defaultChild as never), 'QueueName'],
  });

  it("graphs the workers' job counters for this stack's queue", () => {
    for (const name of Object.values(COUNTER_METRICS).filter((n) => n !== COUNTER_METRICS.failed)) {
      expect(body).toContain(`\\"${METRICS_NAMESPACE}\\",\\"${name}\\",\\"Queue\\",\\"`);
    }
    expect(body).toContain(queueNameRef);
  });

  it('searches job duration and failures per job type', () => {
    for (const name of [JOB_TYPE_METRICS.duration, JOB_TYPE_METRICS.durationMax, JOB_TYPE_METRICS.failed]) {
      expect(body).toContain(
        `SEARCH('{${METRICS_NAMESPACE},Queue,JobType} MetricName=\\\\\\"${name}\\\\\\" Queue=\\\\\\"`,
      );
    }
    expect(body).toContain('Job duration by type (ms)');
  });
});

function synth(fleet: 'fargate' | 'ec2') {
  const app = newApp({ env: 'test', flotilla: { environments: { test: { fleet } } } });
  const built = buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });
  return { primary: built.primary, template: Template.fromStack(built.primary) };
}

describe('Monitoring crash-loop alarm', () => {
  it("counts the Fargate fleet's tasks that stop with a non-zero exit code, and alarms at 3 in 10 minutes to the topic", () => {
    const { primary, template } = synth('fargate');
    const clusterId = primary.getLogicalId(
      (primary.fleet as unknown as { cluster: { node: { defaultChild: never } } }).cluster.node.defaultChild,
    );
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: {
          clusterArn: [{ 'Fn::GetAtt': [clusterId, 'Arn'] }],
          lastStatus: ['STOPPED'],
          containers: { exitCode: [{ 'anything-but': 0 }] },
        },
      },
    });
    const alarm = primary.monitoring.workerExitAlarm!;
    const props =
      template.findResources('AWS::CloudWatch::Alarm')[primary.getLogicalId(alarm.node.defaultChild as never)]
        ?.Properties;
    expect(props).toMatchObject({
      Namespace: 'AWS/Events',
      MetricName: 'MatchedEvents',
      Statistic: 'Sum',
      Period: 600,
      Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: primary.getLogicalId(primary.monitoring.alarmTopic.node.defaultChild as never) }],
    });
    const ruleId = Object.keys(template.findResources('AWS::Events::Rule'))[0];
    expect(props?.Dimensions).toEqual([{ Name: 'RuleName', Value: { Ref: ruleId } }]);
  });

  it('adds no task-exit rule for the EC2 fleet, whose workers systemd restarts in place', () => {
    const { primary, template } = synth('ec2');
    template.resourceCountIs('AWS::Events::Rule', 0);
    expect(primary.monitoring.workerExitAlarm).toBeUndefined();
  });
});
