/**
 * Result packs: the results of several small jobs of one batch, written by one worker as one
 * object (the worker's opt-in `resultPacking`, docs/workers.md), and how every reader finds a
 * job's result whether it was written alone or in a pack.
 *
 * A pack lives beside the batch's single results, at results/<batch>/packs/<packId>.json: under
 * the same prefix, so the same grants and expiry apply (core/layout.ts), and the one listing of
 * results/<batch>/ that readers make anyway shows it. Job ids contain no '/', so a key with one
 * more segment is never a single result.
 *
 * A job can have more than one result where SQS handed copies of its message to two workers.
 * It counts once, and every reader picks the same record: the single record at resultKey if
 * there is one (the one a conditional PUT keeps, and where a cancel is recorded); otherwise the
 * packed record that finished first (then the smaller pack key).
 */
import pMap from 'p-map';
import * as z from 'zod';
import { type FinalRecord, type ResultRecord, ResultRecordSchema, resultKey } from './envelope.js';
import { isMissingObject } from './errors.js';
import type { ObjectStore } from './ports/object-store.js';

/** When a worker writes a pack: whichever limit is reached first (the worker option `resultPacking`). */
export interface ResultPackingOptions {
  /** Results in one pack at most. 1..1000. @default 50 */
  readonly maxJobs?: number;
  /** How long the first result of a pack waits for others, in ms. 0..10000. @default 50 */
  readonly maxDelayMs?: number;
  /** A pack's size at most, in bytes; a result larger than this is written alone. 1024..16 MiB. @default 65536 */
  readonly maxBytes?: number;
}

export const RESULT_PACKING_DEFAULTS = Object.freeze({ maxJobs: 50, maxDelayMs: 50, maxBytes: 64 * 1024 });

export type ResolvedResultPacking = Readonly<Required<ResultPackingOptions>>;

const whole = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;

/** The limits with their defaults; each problem found is added to `problems`. */
export function resolveResultPacking(given: ResultPackingOptions, problems: string[]): ResolvedResultPacking {
  const r = { ...RESULT_PACKING_DEFAULTS, ...given };
  if (!whole(r.maxJobs, 1, 1000)) problems.push('resultPacking.maxJobs must be a whole number 1..1000');
  if (!(r.maxDelayMs >= 0 && r.maxDelayMs <= 10_000))
    problems.push('resultPacking.maxDelayMs must be 0..10000');
  if (!whole(r.maxBytes, 1024, 16 * 1024 * 1024))
    problems.push('resultPacking.maxBytes must be a whole number 1024..16777216');
  return Object.freeze(r);
}

/**
 * The text form of the option (FLOTILLA_RESULT_PACKING, `flotilla worker --result-packing`):
 * 'on', 'off', or some of maxJobs=N,maxDelayMs=N,maxBytes=N (which turns it on). Throws a
 * one-line error naming what is wrong.
 */
export function parseResultPacking(text: string): ResultPackingOptions | undefined {
  const t = text.trim();
  if (t === '' || t === 'off') return undefined;
  if (t === 'on') return {};
  const out: Record<string, number> = {};
  for (const part of t.split(',')) {
    const [name, value, ...rest] = part.split('=').map((s) => s.trim());
    if (!name || !(name in RESULT_PACKING_DEFAULTS) || !value || rest.length > 0)
      throw new Error(
        `result packing is 'on', 'off' or some of maxJobs=N,maxDelayMs=N,maxBytes=N; got '${text}'`,
      );
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`result packing: ${name} must be a number, got '${value}'`);
    out[name] = n;
  }
  const problems: string[] = [];
  resolveResultPacking(out, problems);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return out;
}

/** The text form of some limits, as parseResultPacking reads it ('on' for none). */
export function resultPackingText(opts: ResultPackingOptions): string {
  const parts = Object.entries(opts).filter(([, v]) => v !== undefined);
  return parts.length === 0 ? 'on' : parts.map(([k, v]) => `${k}=${v}`).join(',');
}

/** Where the packs of a batch live. */
export const packPrefix = (batch: string) => `results/${batch}/packs/`;
export const packKey = (batch: string, packId: string) => `${packPrefix(batch)}${packId}.json`;

/** Whether a key under results/<batch>/ is a pack (rather than one job's record). */
export const isPackKey = (key: string): boolean => /^results\/[^/]+\/packs\/[^/]+\.json$/.test(key);

export const ResultPackSchema = z
  .object({
    v: z.literal(1),
    batch: z.string(),
    worker: z.string().describe('the id of the worker that wrote the pack'),
    at: z.iso.datetime().describe('when the pack was written'),
    results: z.array(ResultRecordSchema).describe('result records, each as it would be written alone'),
  })
  .meta({
    title: 'Flotilla result pack v1',
    description:
      'results/<batch>/packs/<pack>.json in the data bucket: the result records of several jobs of the batch, written together by one worker (resultPacking).',
  });

export type ResultPack = Omit<z.infer<typeof ResultPackSchema>, 'results'> & { results: ResultRecord[] };

/** The text of a pack from its records, each already serialized (the worker's hot path: no second stringify). */
export function packBody(batch: string, worker: string, records: readonly string[]): string {
  const head = JSON.stringify({ v: 1, batch, worker, at: new Date().toISOString() });
  return `${head.slice(0, -1)},"results":[${records.join(',')}]}`;
}

/** A packed record, with the pack it was read from. */
export interface PackedRecord {
  readonly record: ResultRecord;
  readonly pack: string;
}

/** Two results of one job: the one that counts (finished first, then the smaller pack key). */
const firstOf = (a: PackedRecord, b: PackedRecord): PackedRecord => {
  const ta = Date.parse(a.record.finishedAt);
  const tb = Date.parse(b.record.finishedAt);
  if (ta !== tb) return ta < tb ? a : b;
  return a.pack <= b.pack ? a : b;
};

/**
 * Reads packs and remembers them (a pack is written once and never changes), so a reader that
 * polls a batch fetches each pack once. Bounded: the oldest packs are forgotten first.
 */
export class PackReader {
  private readonly cache = new Map<string, ResultPack>();

  constructor(
    private readonly store: Pick<ObjectStore, 'get' | 'list'>,
    private readonly capacity = 4096,
  ) {}

  /** The packed records of the listed pack keys, by job id, one per job (see the header). */
  async records(packKeys: Iterable<string>): Promise<Map<string, PackedRecord>> {
    const keys = [...packKeys];
    const packs = await pMap(keys, (k) => this.read(k), { concurrency: 16 });
    const out = new Map<string, PackedRecord>();
    keys.forEach((pack, i) => {
      for (const record of packs[i]?.results ?? []) {
        const seen = out.get(record.jobId);
        const here = { record, pack };
        out.set(record.jobId, seen ? firstOf(seen, here) : here);
      }
    });
    return out;
  }

  /** Every packed record of a batch: one listing of its packs, and a GET of each pack not read before. */
  async batch(batch: string): Promise<Map<string, PackedRecord>> {
    const keys: string[] = [];
    for await (const o of this.store.list(packPrefix(batch))) if (isPackKey(o.key)) keys.push(o.key);
    return this.records(keys);
  }

  private async read(key: string): Promise<ResultPack | undefined> {
    const hit = this.cache.get(key);
    if (hit) return hit;
    let pack: ResultPack;
    try {
      pack = JSON.parse((await this.store.get(key)).toString('utf8')) as ResultPack;
    } catch (err) {
      // Gone between the listing and the read (expired): as if it were not listed.
      if (isMissingObject(err)) return undefined;
      throw err;
    }
    this.cache.set(key, pack);
    if (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value as string);
    return pack;
  }
}

/** A listing of results/<batch>/ split into jobs with a record of their own and the batch's packs. */
export function splitResults<T extends { key: string }>(listing: Iterable<T>): { singles: T[]; packs: T[] } {
  const singles: T[] = [];
  const packs: T[] = [];
  for (const o of listing) (isPackKey(o.key) ? packs : singles).push(o);
  return { singles, packs };
}

/**
 * Whether a job has a result: its own record (a HEAD), or a record in one of its batch's packs
 * (a listing of the packs and a GET of each one `packs` has not read yet). Without `packs`, the
 * HEAD alone: for a deployment that does not pack.
 */
export async function hasResult(
  store: Pick<ObjectStore, 'head'>,
  batch: string,
  jobId: string,
  packs?: PackReader,
): Promise<boolean> {
  if (await store.head(resultKey(batch, jobId))) return true;
  if (!packs) return false;
  return (await packs.batch(batch)).has(jobId);
}

/** A job's final record, alone or packed; undefined while it has none. */
export async function readFinal<R = unknown>(
  store: Pick<ObjectStore, 'get' | 'head'>,
  packs: PackReader,
  batch: string,
  jobId: string,
): Promise<FinalRecord<R> | undefined> {
  try {
    return JSON.parse((await store.get(resultKey(batch, jobId))).toString('utf8')) as FinalRecord<R>;
  } catch (err) {
    if (!isMissingObject(err)) throw err;
  }
  return (await packs.batch(batch)).get(jobId)?.record as ResultRecord<R> | undefined;
}
