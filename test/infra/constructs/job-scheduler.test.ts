import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../../infra/constructs/job-queue.js';
import { eventBridgeCron, JobScheduler } from '../../../infra/constructs/job-scheduler.js';
import { iamStatements, newApp, newStack } from '../support.js';

function build(
  schedules = [
    { name: 'nightly', cron: '0 2 * * *', timezone: 'Europe/Paris', type: 'report', payload: { k: 1 } },
  ],
) {
  const app = newApp();
  const stack = newStack(app);
  const jobs = new JobQueue(stack, 'JobQueue', { alarms: false });
  const scheduler = new JobScheduler(stack, 'JobScheduler', { queues: { default: jobs.queue }, schedules });
  return { app, stack, jobs, scheduler, template: Template.fromStack(stack) };
}

describe('eventBridgeCron', () => {
  it('turns five-field cron into EventBridge cron with a year and one day field left open', () => {
    expect(eventBridgeCron('0 2 * * *')).toBe('cron(0 2 * * ? *)');
    expect(eventBridgeCron('*/15 * 1 * *')).toBe('cron(*/15 * 1 * ? *)');
    expect(eventBridgeCron('30 6 * * 1-5')).toBe('cron(30 6 ? * 2-6 *)');
    expect(eventBridgeCron('0 9 * * 0,sat')).toBe('cron(0 9 ? * 1,SAT *)');
  });

  it('refuses what EventBridge cannot express', () => {
    expect(() => eventBridgeCron('0 0 1 * 1')).toThrow(/both day-of-month and day-of-week/);
    expect(() => eventBridgeCron('0 0 0 * * *')).toThrow(/five fields/);
    expect(() => eventBridgeCron('0 0 * * */2')).toThrow(/no step in day-of-week/);
  });
});

describe('JobScheduler', () => {
  it('creates a schedule group and a cron schedule that sends the job envelope to the queue', () => {
    const { template } = build();
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      GroupName: Match.anyValue(),
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^JobQueue[0-9A-F]{8}$'), 'Arn'] },
        Input: Match.serializedJson({
          v: 1,
          id: '<aws.scheduler.execution-id>',
          type: 'report',
          batch: 'sched-nightly',
          submittedAt: '<aws.scheduler.scheduled-time>',
          payload: { k: 1 },
        }),
      },
    });
  });

  it('gives its role sqs:SendMessage to the job queue and nothing else, assumable by the Scheduler of this account only', () => {
    const { template, stack } = build();
    const roles = template.findResources('AWS::IAM::Role');
    const [roleId, role] = Object.entries(roles).find(([id]) => id.startsWith('JobSchedulerRole'))!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': stack.resolve(stack.account) } },
      }),
    ]);
    const mine = iamStatements(template).filter((s) => s.Policy.startsWith('JobSchedulerRoleDefaultPolicy'));
    expect(mine.length).toBeGreaterThan(0);
    for (const s of mine) {
      expect(s.Action).toEqual(['sqs:SendMessage']);
      expect(JSON.stringify(s.Resource)).toMatch(/"JobQueue[0-9A-F]{8}"/);
      expect(JSON.stringify(s.Resource)).not.toContain('DeadLetter');
    }
    expect(roleId).toBeDefined();
  });

  it('is cdk-nag clean', () => {
    const { app } = build();
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.description}`)).toEqual([]);
  });

  it('refuses a schedule for a queue the stack lacks, a duplicate and a bad pattern, all at once', () => {
    expect(() =>
      build([
        { name: 'a', cron: '0 2 * * *', type: 't', queue: 'nope' } as never,
        { name: 'a', cron: '0 2 1 * 1', type: 't' } as never,
      ]),
    ).toThrow(/JobScheduler: invalid JobScheduler props: .*queue 'nope'.*declared twice.*both day-of-month/);
  });
});
