/**
 * Jobs that run later: delayed jobs (one envelope, one due time) and recurring schedules (a cron
 * pattern that makes a job per slot). Both are records in the data bucket, so they are durable on
 * every endpoint and travel with the bucket through export, restore and mirror:
 *
 *   scheduled/<due minute>/<batch>/<job>.json   a delayed job: its envelope, queue and due time
 *   schedules/<name>.json                        a recurring schedule
 *   fired/<batch>/<job>.json                     the claim a timer writes before it sends a job
 *
 * The due minute (`20261224T0200Z`) leads the key so that "what is due now" is one listing of
 * `scheduled/` read in key order and stopped at the first minute still to come.
 */
import { Cron } from 'croner';
import * as z from 'zod';
import { EnvelopeSchema, ID_PATTERN } from './envelope.js';
import { PREFIXES } from './layout.js';

/** SQS delays a message by itself up to this long (DelaySeconds); longer waits go to the bucket. */
export const SQS_MAX_DELAY_SECONDS = 900;

/** The queue a delayed job or a schedule sends to when none is named. */
export const DEFAULT_TARGET_QUEUE = 'default';

/** The three prefixes, as core/layout.ts declares them (with who may use each). */
export const SCHEDULE_PREFIXES = Object.freeze({
  delayed: PREFIXES.scheduled,
  schedules: PREFIXES.schedules,
  fired: PREFIXES.fired,
});

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `20m`, `3h`, `2d` in seconds; throws a one-line error for anything else. */
export function parseDelay(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`delay '${text}' is not a number followed by s, m, h or d (90s, 20m, 3h, 2d)`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (seconds > 366 * 86_400) throw new Error(`delay '${text}' is more than a year`);
  return seconds;
}

/** An ISO 8601 time with a zone (`2026-12-24T02:00:00Z`, `...+01:00`) in epoch ms. */
export function parseRunAt(text: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const ms = ok ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new Error(`time '${text}' is not an ISO 8601 time with a zone, such as 2026-12-24T02:00:00Z`);
  return ms;
}

/** `20261224T0200Z`: the minute a time falls in, as the key segment that sorts by time. */
export function minuteStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 13).concat('Z');
}

/** `20261224T020000Z`: a slot time as a job id segment (ids allow no ':'). */
export function secondStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15).concat('Z');
}

export const DelayedJobSchema = z
  .object({
    v: z.literal(1),
    queue: z.string().min(1),
    dueAt: z.iso.datetime(),
    envelope: EnvelopeSchema,
  })
  .strict();
export type DelayedJob = z.infer<typeof DelayedJobSchema>;

export function delayedKey(dueAtMs: number, batch: string, job: string): string {
  return `${SCHEDULE_PREFIXES.delayed}${minuteStamp(dueAtMs)}/${batch}/${job}.json`;
}

/** The due minute a `scheduled/` key sorts under (compare with `minuteStamp(now)`). */
export function dueMinuteOfKey(key: string): string {
  return key.slice(SCHEDULE_PREFIXES.delayed.length).split('/', 1)[0] ?? '';
}

export function firedKey(batch: string, job: string): string {
  return `${SCHEDULE_PREFIXES.fired}${batch}/${job}.json`;
}

export const SCHEDULE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const ScheduleSchema = z
  .object({
    v: z.literal(1),
    name: z.string().regex(SCHEDULE_NAME, "schedule name must be 1-63 of a-z, 0-9 and '-'"),
    cron: z.string().min(1),
    timezone: z.string().min(1).default('UTC'),
    type: z.string().min(1),
    payload: z.unknown(),
    queue: z.string().min(1).default(DEFAULT_TARGET_QUEUE),
    createdAt: z.iso.datetime(),
  })
  .strict();
export type Schedule = z.infer<typeof ScheduleSchema>;
export type ScheduleInput = Omit<z.input<typeof ScheduleSchema>, 'v' | 'createdAt'>;

export function scheduleKey(name: string): string {
  return `${SCHEDULE_PREFIXES.schedules}${name}.json`;
}

/** A pattern's croner object, or a one-line error naming what is wrong (pattern or time zone). */
export function cronOf(cron: string, timezone = 'UTC'): Cron {
  try {
    Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new Error(`unknown time zone '${timezone}' (use an IANA name such as Europe/Paris)`);
  }
  try {
    return new Cron(cron, { timezone, paused: true });
  } catch (e) {
    throw new Error(`cron pattern '${cron}' is not valid: ${(e as Error).message}`);
  }
}

/** Validate a schedule as given by a user or a definition; throws one line per first problem. */
export function makeSchedule(input: ScheduleInput, createdAtMs: number): Schedule {
  const parsed = ScheduleSchema.safeParse({ ...input, v: 1, createdAt: new Date(createdAtMs).toISOString() });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`schedule ${input.name}: ${issue?.path.join('.') || 'record'}: ${issue?.message}`);
  }
  cronOf(parsed.data.cron, parsed.data.timezone);
  return parsed.data;
}

/**
 * The batch and job id of one slot of a schedule: the same for every timer that fires it, so the
 * claim under fired/ (and the worker's result-once rule) makes a slot run at most once.
 */
export function slotIds(name: string, slotMs: number): { batch: string; id: string } {
  const ids = { batch: `sched-${name}`, id: secondStamp(slotMs) };
  if (!ID_PATTERN.test(ids.batch)) throw new Error(`schedule name '${name}' does not make a valid batch id`);
  return ids;
}

/** The slots of a schedule in (fromMs, toMs], oldest first, at most `limit` (the latest ones). */
export function slotsBetween(s: Schedule, fromMs: number, toMs: number, limit = 100): number[] {
  const cron = cronOf(s.cron, s.timezone);
  const out: number[] = [];
  let cursor: Date | null = new Date(fromMs);
  for (;;) {
    cursor = cron.nextRun(cursor);
    if (!cursor || cursor.getTime() > toMs) break;
    out.push(cursor.getTime());
    if (out.length > limit) out.shift();
  }
  return out;
}
