/** flotilla submit TYPE (--payload JSON | --file jobs.ndjson) [--queue NAME] [--batch ID] [--wait] [--delay D | --at T] */

import { readFileSync } from 'node:fs';
import { ActiveSideRouter, followingQueue, followingStore } from '../../client/active-side.js';
import {
  type BatchHandle,
  type BatchOutcome,
  type BatchStatus,
  type JobSpec,
  Submitter,
} from '../../client/submit.js';
import { UsageError } from '../../core/errors.js';
import { parseDelay, parseRunAt, SQS_MAX_DELAY_SECONDS } from '../../core/schedule.js';
import { Progress } from '../progress.js';
import { closeTarget, openStore, queueNamed, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla submit TYPE (--payload JSON | --file FILE) [options]

Submit one job (--payload) or one job per line of an NDJSON file (--file, '-' for stdin).

  --payload JSON      the job's payload
  --file FILE         one payload per line; blank lines are skipped
  --queue NAME        the job queue: urgent, default or bulk (those of infra/definitions.ts;
                      default: default). Workers take from a higher queue first
  --id ID             the job id (--payload only; default: a new UUID)
  --batch ID          the batch id; re-running with the same id skips jobs already done
  --wait              wait for every result, showing progress, then print a summary
  --timeout SECONDS   with --wait: give up after this long (exit 1)
  --json              print the summary as JSON on stdout
  --delay DURATION    start the jobs later: 90s, 20m, 3h, 2d (beyond 15m they wait in the
                      bucket until 'flotilla scheduler' or the stack's timer enqueues them)
  --at TIME           start the jobs at an ISO 8601 time, such as 2026-12-24T02:00:00Z`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, positionals, help } = parseCommand<{
    payload?: string;
    file?: string;
    id?: string;
    batch?: string;
    wait?: boolean;
    timeout?: string;
    json?: boolean;
    delay?: string;
    at?: string;
    queue?: string;
  }>(
    argv,
    {
      options: {
        payload: { type: 'string' },
        file: { type: 'string' },
        id: { type: 'string' },
        batch: { type: 'string' },
        wait: { type: 'boolean' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        delay: { type: 'string' },
        at: { type: 'string' },
        queue: { type: 'string' },
      },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  const [type, ...extra] = positionals;
  if (!type) throw new UsageError('give the job type: flotilla submit TYPE --payload JSON');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if ((values.payload === undefined) === (values.file === undefined)) {
    throw new UsageError('give exactly one of --payload JSON and --file FILE');
  }
  if (values.id && values.file)
    throw new UsageError('--id goes with --payload; jobs from --file are named by line');
  const timeoutS = intOption(values.timeout, 'timeout', { min: 1 });
  const jobs: JobSpec[] =
    values.payload !== undefined ? [parsePayload(values.payload, values.id)] : readNdjson(values.file!);
  if (jobs.length === 0) throw new UsageError(`${values.file} holds no jobs`);
  const timing = timingOf(values.delay, values.at);

  const target = await resolveTarget(values, env);
  const queue = await queueNamed(target, values.queue ?? 'default');
  // Sent to whichever side `flotilla failover` made active, to that side's queue of this name.
  const router = new ActiveSideRouter({ ...target, bucket: openStore(target).bucket });
  try {
    const submitter = new Submitter({
      queue: followingQueue(router, queue.url),
      queueName: queue.name,
      store: followingStore(router),
    });
    const sending = new Progress({ stream: err, label: 'submitting', total: jobs.length, unit: 'jobs' });
    const handle = await submitter
      .submitMany(type, jobs, {
        ...(values.batch ? { batch: values.batch } : {}),
        ...timing,
        onProgress: (sent) => sending.set(sent),
      })
      .finally(() => sending.stop());
    const skipped = handle.submitted.skipped;
    err.write(
      `submitted ${handle.submitted.sent} job(s) of type ${type} as batch ${handle.batch}` +
        (queue.name !== 'default' ? ` to queue ${queue.name}` : '') +
        (skipped > 0 ? ` (${skipped} already done, skipped)` : '') +
        whenLine(handle.submitted.dueAt, timing) +
        '\n',
    );
    if (!values.wait) {
      out.write(
        values.json
          ? `${JSON.stringify({ batch: handle.batch, sent: handle.submitted.sent, skipped })}\n`
          : `${handle.batch}\n`,
      );
      return 0;
    }
    const outcome = await waitWithProgress(handle, err, timeoutS);
    return report(outcome, jobs.length, target.bucket!, values.json ?? false, out, err);
  } finally {
    router.close();
    closeTarget(target);
  }
};

/** --delay / --at as Submitter options; a one-line usage error for a bad value. */
function timingOf(delay?: string, at?: string): { delaySeconds?: number; runAt?: Date } {
  if (delay !== undefined && at !== undefined) throw new UsageError('give --delay or --at, not both');
  try {
    if (delay !== undefined) return { delaySeconds: parseDelay(delay) };
    if (at !== undefined) return { runAt: new Date(parseRunAt(at)) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {};
}

function whenLine(dueAt: string | undefined, timing: { delaySeconds?: number; runAt?: Date }): string {
  if (dueAt) return `, waiting in the bucket until ${dueAt} (enqueued then by 'flotilla scheduler')`;
  const s = timing.runAt ? Math.ceil((timing.runAt.getTime() - Date.now()) / 1000) : timing.delaySeconds;
  return s && s > 0 && s <= SQS_MAX_DELAY_SECONDS ? `, delayed ${s} s by the queue` : '';
}

function parsePayload(text: string, id?: string): JobSpec {
  try {
    return { payload: JSON.parse(text), ...(id ? { id } : {}) };
  } catch (e) {
    throw new UsageError(`--payload is not valid JSON (${(e as Error).message})`);
  }
}

function readNdjson(file: string): JobSpec[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const jobs: JobSpec[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      jobs.push({ payload: JSON.parse(line) });
    } catch (e) {
      throw new UsageError(
        `${file} line ${i + 1} is not valid JSON (${(e as Error).message}); nothing was submitted`,
      );
    }
  });
  return jobs;
}

export async function waitWithProgress(
  handle: BatchHandle,
  err: NodeJS.WritableStream,
  timeoutS?: number,
): Promise<BatchOutcome> {
  let waiting: Progress | undefined;
  const started = Date.now();
  try {
    return await handle.waitForAll({
      ...(timeoutS ? { timeoutMs: timeoutS * 1000 } : {}),
      fetchResults: false,
      onProgress: (s, total) => {
        waiting ??= new Progress({ stream: err, label: 'waiting', total, unit: 'done' });
        const secs = Math.max((Date.now() - started) / 1000, 0.001);
        waiting.set(
          s.done.size + s.deadLettered.size + s.cancelled.size,
          (s.cancelled.size > 0 ? `${s.cancelled.size} cancelled, ` : '') +
            `${s.retrying.size} retrying, ${s.deadLettered.size} in DLQ, ${(s.done.size / secs).toFixed(1)} jobs/s` +
            runningText(s.progress),
        );
      },
    });
  } finally {
    waiting?.stop();
  }
}

/** The running jobs that reported progress: "; running j000003 40%, j000007 5% (+3 more)". */
export function runningText(progress: BatchStatus['progress'], show = 3): string {
  if (progress.size === 0) return '';
  const shown = [...progress.values()]
    .sort((a, b) => a.jobId.localeCompare(b.jobId))
    .slice(0, show)
    .map((p) => `${p.jobId} ${Math.round(p.fraction * 100)}%${p.note ? ` (${p.note})` : ''}`);
  const more = progress.size > show ? ` (+${progress.size - show} more)` : '';
  return `; running ${shown.join(', ')}${more}`;
}

function report(
  o: BatchOutcome,
  total: number,
  bucket: string,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number {
  const done = o.done;
  const secs = o.elapsedMs / 1000;
  const summary = {
    batch: o.batch,
    total,
    done,
    deadLettered: o.deadLettered.length,
    cancelled: o.cancelled.length,
    pending: o.pending.length,
    elapsedSeconds: Number(secs.toFixed(2)),
    jobsPerSecond: Number((done / Math.max(secs, 0.001)).toFixed(1)),
    results: `s3://${bucket}/results/${o.batch}/`,
  };
  if (json) out.write(`${JSON.stringify(summary)}\n`);
  else {
    out.write(
      `batch ${o.batch}: ${done} done, ${summary.deadLettered} in DLQ, ` +
        (summary.cancelled > 0 ? `${summary.cancelled} cancelled, ` : '') +
        `${summary.pending} still pending, ` +
        `${secs.toFixed(1)} s, ${summary.jobsPerSecond} jobs/s; results under ${summary.results}\n`,
    );
    for (const e of o.deadLettered.slice(0, 10)) {
      err.write(`  ${e.jobId}: ${e.error.name}: ${e.error.message} (after ${e.attempt} attempt(s))\n`);
    }
    if (o.deadLettered.length > 10)
      err.write(`  ... and ${o.deadLettered.length - 10} more: flotilla results ${o.batch}\n`);
    if (!o.complete)
      err.write(
        `gave up waiting with ${o.pending.length} job(s) pending; check again with: flotilla results ${o.batch}\n`,
      );
  }
  return o.complete && o.deadLettered.length === 0 && o.cancelled.length === 0 ? 0 : 1;
}
