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
import {
  type FinalRecord,
  jobIdOfKey,
  type ResultRecord,
  ResultRecordSchema,
  resultKey,
} from './envelope.js';
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

/**
 * The limits with their defaults; each problem found is added to `problems`. Given the
 * visibility timeout (and what to call it), a result must not wait in a pack for more than half
 * of it.
 */
export function resolveResultPacking(
  given: ResultPackingOptions,
  problems: string[],
  visibility?: { readonly seconds: number; readonly name: string },
): ResolvedResultPacking {
  const r = { ...RESULT_PACKING_DEFAULTS, ...given };
  if (!whole(r.maxJobs, 1, 1000)) problems.push('resultPacking.maxJobs must be a whole number 1..1000');
  if (!(r.maxDelayMs >= 0 && r.maxDelayMs <= 10_000))
    problems.push('resultPacking.maxDelayMs must be 0..10000');
  if (!whole(r.maxBytes, 1024, 16 * 1024 * 1024))
    problems.push('resultPacking.maxBytes must be a whole number 1024..16777216');
  if (visibility && r.maxDelayMs * 2 > visibility.seconds * 1000)
    problems.push(`resultPacking.maxDelayMs must be at most half ${visibility.name}`);
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

/** A job's entry in a pack: its id, and when its record says it finished. */
type PackEntry = readonly [jobId: string, finishedMs: number];

export interface PackReaderOptions {
  /**
   * Packs whose contents (job ids and finish times: a few dozen bytes a job) are kept, so a
   * reader polling a batch fetches each pack once. @default 100000 (5 million jobs in packs of 50)
   */
  readonly maxIndexedPacks?: number;
  /** Whole packs kept for their records. @default 256 */
  readonly maxPacks?: number;
}

/**
 * Reads packs and remembers what they hold (a pack is written once and never changes): which
 * jobs each pack holds, for many packs, and whole packs, for a few, so a reader that polls a
 * batch fetches each pack once and a record asked for soon after needs no second GET.
 */
export class PackReader {
  private readonly contents = new Map<string, readonly PackEntry[]>();
  private readonly packs = new Map<string, ResultPack>();
  private readonly maxIndexed: number;
  private readonly maxPacks: number;

  constructor(
    private readonly store: Pick<ObjectStore, 'get' | 'list'>,
    opts: PackReaderOptions = {},
  ) {
    this.maxIndexed = opts.maxIndexedPacks ?? 100_000;
    this.maxPacks = opts.maxPacks ?? 256;
  }

  /**
   * For each job found in these packs, the pack whose record counts (see the header): a GET of
   * each pack not read before.
   */
  async index(packKeys: Iterable<string>): Promise<Map<string, string>> {
    const keys = [...packKeys];
    const todo = keys.filter((k) => !this.contents.has(k));
    await pMap(todo, (k) => this.fetch(k), { concurrency: 16 });
    const best = new Map<string, { pack: string; finishedMs: number }>();
    for (const pack of keys) {
      for (const [jobId, finishedMs] of this.contents.get(pack) ?? []) {
        const seen = best.get(jobId);
        if (!seen || finishedMs < seen.finishedMs || (finishedMs === seen.finishedMs && pack < seen.pack))
          best.set(jobId, { pack, finishedMs });
      }
    }
    return new Map([...best].map(([jobId, { pack }]) => [jobId, pack]));
  }

  /**
   * A listing of results/<batch>/ read as its readers need it: the jobs with a record of their
   * own (`singles`), the batch's packs, and for each job found in a pack only, the pack whose
   * record counts (`packed`; a GET of each pack not read before).
   */
  async resolve<T extends { key: string }>(
    listing: Iterable<T>,
  ): Promise<{ singles: T[]; packs: T[]; packed: Map<string, string> }> {
    const { singles, packs } = splitResults(listing);
    const packed = await this.index(packs.map((o) => o.key));
    for (const o of singles) packed.delete(jobIdOfKey(o.key));
    return { singles, packs, packed };
  }

  /** The same for every pack of a batch: one listing of its packs first. */
  async batchIndex(batch: string): Promise<Map<string, string>> {
    const keys: string[] = [];
    for await (const o of this.store.list(packPrefix(batch))) if (isPackKey(o.key)) keys.push(o.key);
    return this.index(keys);
  }

  /** A job's record in a pack; undefined when the pack (or the job in it) is gone. */
  async record<R = unknown>(pack: string, jobId: string): Promise<ResultRecord<R> | undefined> {
    const p = this.packs.get(pack) ?? (await this.fetch(pack));
    return p?.results.find((r) => r.jobId === jobId) as ResultRecord<R> | undefined;
  }

  /** The records of these jobs, each from the pack given for it: one GET per pack not kept. */
  async records<R = unknown>(where: ReadonlyMap<string, string>): Promise<Map<string, ResultRecord<R>>> {
    const byPack = new Map<string, Set<string>>();
    for (const [jobId, pack] of where) byPack.set(pack, (byPack.get(pack) ?? new Set()).add(jobId));
    const out = new Map<string, ResultRecord<R>>();
    const take = (p: ResultPack | undefined, ids: Set<string>) => {
      for (const r of p?.results ?? []) if (ids.has(r.jobId)) out.set(r.jobId, r as ResultRecord<R>);
    };
    // The packs kept first, before fetching the others pushes them out.
    const missing: [string, Set<string>][] = [];
    for (const [pack, ids] of byPack) {
      const kept = this.packs.get(pack);
      if (kept) take(kept, ids);
      else missing.push([pack, ids]);
    }
    await pMap(missing, async ([pack, ids]) => take(await this.fetch(pack), ids), { concurrency: 16 });
    return out;
  }

  private async fetch(key: string): Promise<ResultPack | undefined> {
    let pack: ResultPack;
    try {
      pack = JSON.parse((await this.store.get(key)).toString('utf8')) as ResultPack;
    } catch (err) {
      // Gone between the listing and the read (expired): as if it were not listed.
      if (isMissingObject(err)) return undefined;
      throw err;
    }
    remember(
      this.contents,
      key,
      pack.results.map((r) => [r.jobId, Date.parse(r.finishedAt)] as const),
      this.maxIndexed,
    );
    remember(this.packs, key, pack, this.maxPacks);
    return pack;
  }
}

/** Keep `value` under `key` in an insertion-ordered map of at most `capacity`, forgetting the oldest. */
function remember<V>(map: Map<string, V>, key: string, value: V, capacity: number): void {
  map.set(key, value);
  if (map.size > capacity) map.delete(map.keys().next().value as string);
}

/** A listing of results/<batch>/ split into jobs with a record of their own and the batch's packs. */
export function splitResults<T extends { key: string }>(listing: Iterable<T>): { singles: T[]; packs: T[] } {
  const singles: T[] = [];
  const packs: T[] = [];
  for (const o of listing) (isPackKey(o.key) ? packs : singles).push(o);
  return { singles, packs };
}

/** The jobs of a resolved listing (`PackReader.resolve`) that have a result: their own record, or a packed one. */
export function resultJobIds(resolved: {
  readonly singles: readonly { key: string }[];
  readonly packed: ReadonlyMap<string, string>;
}): string[] {
  return [...resolved.singles.map((o) => jobIdOfKey(o.key)), ...resolved.packed.keys()];
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
  return (await packs.batchIndex(batch)).has(jobId);
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
  const pack = (await packs.batchIndex(batch)).get(jobId);
  return pack === undefined ? undefined : packs.record<R>(pack, jobId);
}
