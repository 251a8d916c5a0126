/**
 * Failover (`flotilla failover --to URL`): make the other side active, losing no job.
 *
 *   1. a mirror pass: the target's queues and bucket exist and are nearly level;
 *   2. the active-side record (core/active-side.ts) in the source bucket names the target: from
 *      then on submitters send there and the source's workers take no new jobs;
 *   3. every queue's messages move to the target's queue of the same name (the DLQ's to its DLQ),
 *      as they become visible: in-flight ones once their worker finishes or releases them,
 *      SQS-delayed ones when due, until every source queue is empty or the wait is over;
 *   4. a final mirror pass (results, errors, scheduled/ and schedules/ records...);
 *   5. the record in both buckets, the target's first.
 * Every step can run again: an interrupted failover is finished by the same command. A message
 * moved twice (a crash between send and delete) is dropped by the worker's result check, since
 * job ids are idempotency keys. Failback is the same command in the other direction.
 */
import { redrive } from '../../client/dlq.js';
import {
  type ActiveSideRecord,
  isActive,
  readActiveSide,
  type SideAddress,
  writeActiveSide,
} from '../../core/active-side.js';
import { S3Store } from '../../core/adapters/s3-store.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { describeQueues, type LiveSide } from './describe.js';
import { type MirrorResult, mirrorDeployment } from './mirror.js';

/** How long a message being moved stays hidden at the source (one send and one delete). */
const MOVE_VISIBILITY_SECONDS = 15;

export interface FailoverOptions {
  readonly source: LiveSide;
  readonly target: LiveSide;
  readonly bucket: string;
  /** @default - the source bucket's name */
  readonly targetBucket?: string;
  readonly queueUrl: string;
  readonly dlqUrl?: string;
  /** Print what would move, change nothing. @default false */
  readonly dryRun?: boolean;
  /** How long to wait for in-flight and delayed messages to come back. @default 900000 */
  readonly waitMs?: number;
  readonly progress: NodeJS.WritableStream;
  readonly out: NodeJS.WritableStream;
  readonly quiet?: boolean;
}

export interface QueueCounts {
  readonly name: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

export interface FailoverResult {
  /** Messages moved, per queue name. */
  readonly moved: Readonly<Record<string, number>>;
  /** What is still at the source (non-zero only when the wait ran out). */
  readonly left: readonly QueueCounts[];
  readonly sync?: MirrorResult;
  readonly complete: boolean;
  readonly seconds: number;
}

async function counts(q: SqsQueue, name: string): Promise<QueueCounts> {
  const a = await q.attributes([
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ]);
  return {
    name,
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

const pendingOf = (c: QueueCounts) => c.visible + c.inFlight + c.delayed;

export async function failover(opts: FailoverOptions): Promise<FailoverResult> {
  const started = Date.now();
  const say = (s: string) => {
    if (!opts.quiet) opts.progress.write(`${s}\n`);
  };
  const targetName = opts.targetBucket ?? opts.bucket;
  // The deployment's queues as a list (the job queues and the DLQ), moved alike.
  const queues = await describeQueues(opts.source, opts.queueUrl, opts.dlqUrl);
  const sourceQueues = queues.map((q) => ({ name: q.name, queue: new SqsQueue(opts.source.sqs, q.url) }));
  const mirror = (dryRun: boolean) =>
    mirrorDeployment({
      source: opts.source,
      target: opts.target,
      bucket: opts.bucket,
      targetBucket: targetName,
      queueUrl: opts.queueUrl,
      ...(opts.dlqUrl ? { dlqUrl: opts.dlqUrl } : {}),
      dryRun,
      progress: opts.progress,
      out: opts.out,
      quiet: opts.quiet ?? false,
    });

  if (opts.dryRun) {
    for (const { name, queue } of sourceQueues) {
      const c = await counts(queue, name);
      opts.out.write(
        `move   queue ${name}: ${c.visible} waiting, ${c.inFlight} in flight (moved once released), ${c.delayed} delayed (moved when due)\n`,
      );
    }
    const plan = await mirror(true);
    opts.out.write(`sync   ${plan.plan.length} object(s) to copy before the switch\n`);
    return { moved: {}, left: [], complete: false, seconds: (Date.now() - started) / 1000 };
  }

  // 1. The target's definitions and data, nearly level.
  say('failover: syncing definitions and objects…');
  const urls = (await mirror(false)).queueUrls;
  const address = (
    side: LiveSide,
    bucket: string,
    queueUrls: Iterable<readonly [string, string]>,
  ): SideAddress => ({
    ...(side.endpoint.endpoint ? { endpoint: side.endpoint.endpoint } : {}),
    ...(side.endpoint.region ? { region: side.endpoint.region } : {}),
    bucket,
    queues: Object.fromEntries(queueUrls),
  });
  const to = address(opts.target, targetName, urls);
  const from = address(
    opts.source,
    opts.bucket,
    queues.map((q) => [q.name, q.url]),
  );
  const srcStore = new S3Store(opts.source.s3, opts.bucket);
  const dstStore = new S3Store(opts.target.s3, targetName);
  const record = (state: ActiveSideRecord['state']): ActiveSideRecord => ({
    v: 1,
    active: to,
    from,
    state,
    at: new Date().toISOString(),
  });

  // 2. Stop new work at the source (unless a re-run finds it already switched).
  const existing = await readActiveSide(srcStore);
  if (isActive(existing, opts.queueUrl) || existing?.state !== 'active')
    await writeActiveSide(srcStore, record('switching'));

  // 3. Move every message as it becomes visible, every queue at once, until each reads empty.
  // Each receive is a 1 s long poll: a queue still holding in-flight or delayed messages takes
  // them the moment they come back, and one that is empty costs a single poll, not a sleep.
  const moved: Record<string, number> = {};
  for (const { name } of sourceQueues) if (urls.has(name)) moved[name] = 0;
  const deadline = Date.now() + (opts.waitMs ?? 900_000);
  const movedAt = Date.now();
  let lastSaid = 0;
  const drain = async ({ name, queue }: (typeof sourceQueues)[number]): Promise<QueueCounts | undefined> => {
    const url = urls.get(name);
    if (!url) return undefined;
    const target = new SqsQueue(opts.target.sqs, url);
    for (;;) {
      moved[name] =
        (moved[name] ?? 0) +
        (await redrive({
          dlq: queue,
          queue: target,
          max: Number.MAX_SAFE_INTEGER,
          // Short: messages an interrupted failover had received come back soon for the re-run.
          visibilityTimeoutSeconds: MOVE_VISIBILITY_SECONDS,
          waitTimeSeconds: 1,
          emptyPolls: 1,
        }));
      const c = await counts(queue, name);
      if (pendingOf(c) === 0) return undefined;
      if (Date.now() >= deadline) return c;
      if (Date.now() - lastSaid > 5000) {
        lastSaid = Date.now();
        say(`failover: waiting for ${name}: ${c.inFlight} in flight, ${c.delayed} delayed`);
      }
    }
  };
  const left = (await Promise.all(sourceQueues.map(drain))).filter((c) => c !== undefined);
  const total = Object.values(moved).reduce((a, b) => a + b, 0);
  say(`failover: moved ${total} message(s) in ${((Date.now() - movedAt) / 1000).toFixed(1)} s`);

  // 4. The final sync: results written by the jobs that finished at the source, scheduled jobs…
  say('failover: final sync…');
  const sync = await mirror(false);
  const complete = left.length === 0 && sync.failed.length === 0;
  // 5. Both records say the target is active.
  if (complete) {
    await writeActiveSide(dstStore, record('active'));
    await writeActiveSide(srcStore, record('active'));
  }
  return { moved, left, sync, complete, seconds: (Date.now() - started) / 1000 };
}
