/** The job queues a deployment declares: order, attributes, names, and what is refused. */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DEPLOYMENT,
  DEFAULT_QUEUE,
  jobQueues,
  queueOutputKeys,
  resolveDeployment,
  resourceNames,
  STACK_OUTPUTS,
} from '../../infra/definitions.js';

describe('job queue definitions', () => {
  it('ships urgent, default and bulk, highest priority first, each with the deployment attributes', () => {
    const queues = jobQueues(DEFAULT_DEPLOYMENT);
    expect(queues.map((q) => [q.name, q.weight])).toEqual([
      ['urgent', 6],
      ['default', 3],
      ['bulk', 1],
    ]);
    for (const q of queues) expect(q.definition).toEqual(DEFAULT_QUEUE);
  });

  it('lets one queue override an attribute without touching the others', () => {
    const d = resolveDeployment({
      queue: { visibilityTimeoutSeconds: 90 },
      queues: [
        { name: 'default', priority: 1 },
        { name: 'slow', priority: 0, attributes: { visibilityTimeoutSeconds: 900 } },
      ],
    });
    expect(jobQueues(d).map((q) => [q.name, q.definition.visibilityTimeoutSeconds])).toEqual([
      ['default', 90],
      ['slow', 900],
    ]);
  });

  it('refuses a missing default, a repeated or malformed name and a bad weight, all in one error', () => {
    expect(() =>
      resolveDeployment({
        queues: [
          { name: 'fast', priority: 2, weight: 0 },
          { name: 'fast', priority: 1 },
          { name: 'Bad_Name', priority: 0, attributes: { maxReceiveCount: 0 } },
        ],
      }),
    ).toThrow(
      /weight must be greater than 0.*declared twice.*'Bad_Name' must be.*maxReceiveCount.*one named 'default'/,
    );
  });

  it("names each queue's SQS queues and stack outputs, the default one as before there were several", () => {
    const names = resourceNames('shop');
    expect(names.queue).toBe('shop-jobs');
    expect(names.queues).toEqual({
      urgent: { queue: 'shop-jobs-urgent', dlq: 'shop-jobs-urgent-dlq' },
      default: { queue: 'shop-jobs', dlq: 'shop-jobs-dlq' },
      bulk: { queue: 'shop-jobs-bulk', dlq: 'shop-jobs-bulk-dlq' },
    });
    expect(queueOutputKeys('default')).toEqual({
      queueUrl: STACK_OUTPUTS.queueUrl,
      dlqUrl: STACK_OUTPUTS.dlqUrl,
    });
    expect(queueOutputKeys('bulk-import')).toEqual({
      queueUrl: 'JobQueueBulkImportUrl',
      dlqUrl: 'DeadLetterQueueBulkImportUrl',
    });
  });
});
