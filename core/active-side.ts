/**
 * Which side of a deployment is active: a small record, `failover/active.json`, that
 * `flotilla failover` writes in the buckets of both sides. Submitters read it to send their jobs
 * where work goes now (client/active-side.ts); workers read it to take no new jobs on a side that
 * is no longer active (workers/runtime/steering.ts). No record means the side is active: a
 * deployment that never failed over works as before.
 *
 * Queues are named by their name, which a mirror keeps the same on both sides, so a deployment
 * with several job queues carries one entry each.
 */
import type { ObjectStore } from './ports/object-store.js';

export const ACTIVE_SIDE_KEY = 'failover/active.json';

/** One side of a deployment, as another process can reach it. */
export interface SideAddress {
  /** The S3/SQS endpoint URL. @default - AWS */
  readonly endpoint?: string;
  /** @default - the reader's own region */
  readonly region?: string;
  readonly bucket: string;
  /** Queue name → queue URL on that side (the job queues and the DLQ). */
  readonly queues: Readonly<Record<string, string>>;
}

export interface ActiveSideRecord {
  readonly v: 1;
  /** Where new work goes. */
  readonly active: SideAddress;
  /** The side work moved away from. */
  readonly from?: SideAddress;
  /** 'switching' while a failover moves jobs; 'active' once it finished. */
  readonly state: 'switching' | 'active';
  readonly at: string;
}

/** The record in `store`; undefined when there is none (the side has never failed over). */
export async function readActiveSide(store: ObjectStore): Promise<ActiveSideRecord | undefined> {
  if (!(await store.head(ACTIVE_SIDE_KEY))) return undefined;
  const rec = JSON.parse((await store.get(ACTIVE_SIDE_KEY)).toString('utf8')) as ActiveSideRecord;
  return rec.v === 1 && rec.active ? rec : undefined;
}

export async function writeActiveSide(store: ObjectStore, rec: ActiveSideRecord): Promise<void> {
  await store.put(ACTIVE_SIDE_KEY, JSON.stringify(rec), { contentType: 'application/json' });
}

/** The queue name, the URL's last path segment (string ops: emulator hosts like sqs.us-east-1.127.0.0.1 are not WHATWG-valid). */
export const queueNameOf = (url: string) => decodeURIComponent(url.split(/[?#]/)[0]?.split('/').pop() ?? '');

/** Is the side that owns `queueUrl` the active one, by this record? */
export function isActive(rec: ActiveSideRecord | undefined, queueUrl: string): boolean {
  return !rec || Object.values(rec.active.queues).includes(queueUrl);
}

/** Is the side of `store` and `queueUrl` active? An unreadable record counts as active (it changes nothing). */
export async function sideIsActive(store: ObjectStore, queueUrl: string): Promise<boolean> {
  return isActive(await readActiveSide(store).catch(() => undefined), queueUrl);
}
