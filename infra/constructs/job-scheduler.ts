import { RemovalPolicy, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ScheduleDefinition } from '../definitions.js';

export interface JobSchedulerProps {
  /** The deployment's job queues by name (`default`, ...): the only queues the role may send to. */
  readonly queues: Readonly<Record<string, sqs.IQueue>>;
  /**
   * Recurring jobs, from infra/definitions.ts.
   * @default - none: the group and the role only
   */
  readonly schedules?: readonly ScheduleDefinition[];
}

const SCHEDULE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const PLAIN_FIELD = /^[0-9A-Za-z*,/-]+$/;

/**
 * A five-field cron pattern (minute hour day-of-month month day-of-week) as EventBridge
 * Scheduler's `cron(...)`: six fields, a year, one day field '?', weekdays counted from 1 (Sunday).
 * Throws on what EventBridge cannot express (both day fields, weekday steps, seconds).
 */
export function eventBridgeCron(pattern: string): string {
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new Error(
      `cron '${pattern}' must have five fields (minute hour day month weekday) for EventBridge`,
    );
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string];
  if (!fields.every((f) => PLAIN_FIELD.test(f)))
    throw new Error(`cron '${pattern}' uses syntax EventBridge does not take`);
  if (dom !== '*' && dow !== '*')
    throw new Error(
      `cron '${pattern}' sets both day-of-month and day-of-week, which EventBridge cannot combine`,
    );
  if (dow === '*') return `cron(${minute} ${hour} ${dom} ${month} ? *)`;
  if (dow.includes('/')) throw new Error(`cron '${pattern}': EventBridge takes no step in day-of-week`);
  // Standard cron counts weekdays 0-6 (or 7) from Sunday, EventBridge 1-7; names need no change.
  const day = (t: string) => (/^\d+$/.test(t) ? String((Number(t) % 7) + 1) : t.toUpperCase());
  const converted = dow
    .split(',')
    .map((part) => part.split('-').map(day).join('-'))
    .join(',');
  if (!converted.split(/[,-]/).every((t) => /^[1-7]$/.test(t) || DAYS.includes(t)))
    throw new Error(`cron '${pattern}': day-of-week '${dow}' is not 0-7 or SUN-SAT`);
  return `cron(${minute} ${hour} ? ${month} ${converted} *)`;
}

/**
 * EventBridge Scheduler for a deployment: a schedule group, a role that may only send to the
 * deployment's job queues, and one cron schedule per declared recurring job whose target is
 * SQS SendMessage with the job envelope as its input. No worker and no timer wakes for it.
 */
export class JobScheduler extends Construct {
  readonly group: scheduler.ScheduleGroup;
  /** Assumed by EventBridge Scheduler (this account only) to send jobs to the queues. */
  readonly role: iam.Role;
  readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: JobSchedulerProps) {
    super(scope, id);
    const declared = props.schedules ?? [];
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const s of declared) {
      if (!SCHEDULE_NAME.test(s.name))
        problems.push(`schedule name '${s.name}' must be 1-63 of a-z, 0-9 and '-'`);
      if (seen.has(s.name)) problems.push(`schedule '${s.name}' is declared twice`);
      seen.add(s.name);
      const queue = s.queue ?? 'default';
      if (!props.queues[queue])
        problems.push(`schedule '${s.name}' targets queue '${queue}', which the stack does not have`);
      try {
        eventBridgeCron(s.cron);
      } catch (e) {
        problems.push(`schedule '${s.name}': ${(e as Error).message}`);
      }
    }
    if (Object.keys(props.queues).length === 0) problems.push('give at least one queue');
    if (problems.length > 0)
      throw new Error(`${this.node.path}: invalid JobScheduler props: ${problems.join('; ')}`);

    this.group = new scheduler.ScheduleGroup(this, 'Group', { removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge Scheduler sends Flotilla jobs to the job queues; nothing else',
    });
    // Only SendMessage (grantSendMessages adds GetQueueAttributes and GetQueueUrl, unused here),
    // and the key's data-key use when a queue is encrypted with a customer-managed key.
    for (const queue of Object.values(props.queues)) {
      queue.grant(this.role, 'sqs:SendMessage');
      queue.encryptionMasterKey?.grant(this.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    }

    for (const s of declared) {
      const queue = props.queues[s.queue ?? 'default']!;
      this.schedules.push(
        new scheduler.Schedule(this, `Schedule-${s.name}`, {
          scheduleGroup: this.group,
          description: `Flotilla: ${s.type} jobs on ${s.cron} (${s.timezone ?? 'UTC'})`,
          schedule: scheduler.ScheduleExpression.expression(
            eventBridgeCron(s.cron),
            TimeZone.of(s.timezone ?? 'UTC'),
          ),
          target: new targets.SqsSendMessage(queue, {
            role: this.role,
            input: scheduler.ScheduleTargetInput.fromObject({
              v: 1,
              id: scheduler.ContextAttribute.executionId,
              type: s.type,
              batch: `sched-${s.name}`,
              submittedAt: scheduler.ContextAttribute.scheduledTime,
              payload: s.payload ?? null,
            }),
          }),
        }),
      );
    }
  }
}
