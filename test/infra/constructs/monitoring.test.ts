/** The dashboard graphs the metrics the workers emit as EMF, under the names they emit them. */
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
