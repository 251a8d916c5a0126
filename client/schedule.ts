/**
 * Recurring schedules and pending delayed jobs, as a library: the records behind
 * `flotilla schedule add|list|remove`. They live in the data bucket (core/schedule.ts), where
 * `flotilla scheduler` reads them and export, restore and mirror carry them.
 *
 *   await addSchedule(store, { name: 'nightly', cron: '0 2 * * *', type: 'report', payload: {} });
 */
import { FlotillaError } from '../core/errors.js';
import type { ObjectStore } from '../core/ports/object-store.js';
import {
  type DelayedJob,
  DelayedJobSchema,
  makeSchedule,
  SCHEDULE_PREFIXES,
  type Schedule,
  type ScheduleInput,
  ScheduleSchema,
  scheduleKey,
} from '../core/schedule.js';

/** Payloads of schedules travel inline in every job they make: keep them well under SQS's limit. */
const MAX_SCHEDULE_PAYLOAD_BYTES = 64 * 1024;

/**
 * Create or replace a schedule. Its slots count from now: a replaced schedule does not fire the
 * slots it missed. Returns the record as stored.
 */
export async function addSchedule(
  store: ObjectStore,
  input: ScheduleInput,
  nowMs = Date.now(),
): Promise<Schedule> {
  let schedule: Schedule;
  try {
    schedule = makeSchedule(input, nowMs);
  } catch (e) {
    throw new FlotillaError((e as Error).message);
  }
  const size = Buffer.byteLength(JSON.stringify(schedule.payload ?? null));
  if (size > MAX_SCHEDULE_PAYLOAD_BYTES)
    throw new FlotillaError(
      `schedule ${schedule.name}: payload is ${size} bytes, more than ${MAX_SCHEDULE_PAYLOAD_BYTES}; put large inputs in the bucket and pass their key`,
    );
  await store.put(scheduleKey(schedule.name), JSON.stringify(schedule, null, 2), {
    contentType: 'application/json',
  });
  return schedule;
}

/** Every schedule in the bucket, by name. Records that do not parse are reported, not skipped quietly. */
export async function listSchedules(
  store: ObjectStore,
): Promise<{ schedules: Schedule[]; invalid: string[] }> {
  const schedules: Schedule[] = [];
  const invalid: string[] = [];
  for await (const o of store.list(SCHEDULE_PREFIXES.schedules)) {
    const parsed = ScheduleSchema.safeParse(JSON.parse((await store.get(o.key)).toString('utf8')));
    if (parsed.success) schedules.push(parsed.data);
    else invalid.push(o.key);
  }
  return { schedules, invalid };
}

/** Remove a schedule; no slot of it fires after this returns. False when there was none. */
export async function removeSchedule(store: ObjectStore, name: string): Promise<boolean> {
  const key = scheduleKey(name);
  if (!(await store.head(key))) return false;
  await store.delete(key);
  return true;
}

/** Delayed jobs still waiting in the bucket, soonest first. */
export async function listDelayed(store: ObjectStore, limit = 1000): Promise<DelayedJob[]> {
  const out: DelayedJob[] = [];
  for await (const o of store.list(SCHEDULE_PREFIXES.delayed)) {
    if (out.length >= limit) break;
    const parsed = DelayedJobSchema.safeParse(JSON.parse((await store.get(o.key)).toString('utf8')));
    if (parsed.success) out.push(parsed.data);
  }
  return out.sort((a, b) => a.dueAt.localeCompare(b.dueAt));
}
