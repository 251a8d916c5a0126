/**
 * The data-parallel example. `wordcount` is the map step: one job per text object, counting its
 * words. `wordcount-merge` is the fan-in: it reads every map result of a batch and sums them.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { UnrecoverableError } from '../../core/errors.js';
import { PREFIXES } from '../../core/layout.js';
import { PackReader, readFinal } from '../../core/result-packs.js';
import type { HandlerDefinition, Job } from './registry.js';

export interface WordcountPayload {
  /** Key of a UTF-8 text object in the data bucket, under `inputs/`. */
  readonly key: string;
}

export interface WordcountResult {
  readonly key: string;
  readonly words: number;
  readonly counts: Record<string, number>;
}

const WORD = /[\p{L}\p{N}']+/gu;

export function countWords(text: string, into: Map<string, number> = new Map()): Map<string, number> {
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const w = m[0].replace(/^'+|'+$/g, '');
    if (w) into.set(w, (into.get(w) ?? 0) + 1);
  }
  return into;
}

export const wordcount: HandlerDefinition<WordcountPayload, WordcountResult> = {
  type: 'wordcount',
  timeoutMs: 5 * 60 * 1000,
  storage: { reads: [PREFIXES.inputs] },
  async handler(job, ctx) {
    if (typeof job.payload?.key !== 'string')
      throw new UnrecoverableError('wordcount needs payload {"key": "<text object>"}');
    const text = (await ctx.store.get(job.payload.key, ctx.signal)).toString('utf8');
    const counts = countWords(text);
    let words = 0;
    for (const n of counts.values()) words += n;
    return { key: job.payload.key, words, counts: Object.fromEntries(counts) };
  },
};

export interface MergePayload {
  /** The batch whose wordcount results to merge. */
  readonly batch: string;
  /** The map job ids to wait for and merge; all results of the batch when absent. */
  readonly jobIds?: readonly string[];
  /** How many top words to return. @default 20 */
  readonly top?: number;
}

export interface MergeResult {
  readonly inputs: number;
  readonly words: number;
  readonly distinct: number;
  readonly top: readonly [string, number][];
  /** Where the full merged counts were written. */
  readonly outputKey: string;
}

export const wordcountMerge: HandlerDefinition<MergePayload, MergeResult> = {
  type: 'wordcount-merge',
  timeoutMs: 10 * 60 * 1000,
  storage: { reads: [PREFIXES.results], lists: [PREFIXES.results], writes: [PREFIXES.outputs] },
  async handler(job: Job<MergePayload>, ctx) {
    const { batch, jobIds, top = 20 } = job.payload ?? ({} as MergePayload);
    if (typeof batch !== 'string')
      throw new UnrecoverableError('wordcount-merge needs payload {"batch": "<map batch id>"}');
    // Each map result, written alone or in a pack (core/result-packs.ts).
    const packs = new PackReader(ctx.store);
    const records: (() => Promise<{ result: WordcountResult }>)[] = [];
    if (jobIds) {
      for (const id of jobIds)
        records.push(async () => {
          const rec = await readFinal<WordcountResult>(ctx.store, packs, batch, id);
          // A missing map result throws: the merge is retried until the map step has finished.
          if (rec?.status !== 'done') throw new Error(`no result for map job ${id} of batch ${batch} yet`);
          return rec;
        });
    } else {
      const listing: { key: string }[] = [];
      for await (const o of ctx.store.list(`${PREFIXES.results}${batch}/`)) listing.push(o);
      const { singles, packed } = await packs.resolve(listing);
      for (const o of singles)
        records.push(async () => JSON.parse((await ctx.store.get(o.key, ctx.signal)).toString('utf8')));
      // Read per pack, in the order of the packs: each pack once (PackReader keeps the last ones read).
      for (const [id, pack] of [...packed].sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0)))
        records.push(async () => {
          const rec = await packs.record<WordcountResult>(pack, id);
          if (!rec) throw new Error(`the pack ${pack} is gone`);
          return rec;
        });
    }
    const totals = new Map<string, number>();
    let done = 0;
    for (const read of records) {
      const rec = await read();
      for (const [w, n] of Object.entries(rec.result.counts)) totals.set(w, (totals.get(w) ?? 0) + n);
      done++;
      if (done % 50 === 0) {
        ctx.progress(done / records.length);
        await yieldToLoop();
      }
    }
    const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const outputKey = `${PREFIXES.outputs}${job.batch}/wordcount-${batch}.json`;
    await ctx.store.put(outputKey, JSON.stringify(Object.fromEntries(sorted)), {
      contentType: 'application/json',
    });
    let words = 0;
    for (const n of totals.values()) words += n;
    return { inputs: records.length, words, distinct: totals.size, top: sorted.slice(0, top), outputKey };
  },
};
