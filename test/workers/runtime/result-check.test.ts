/** ResultCheck: when a delivery costs a HEAD of its result, and how much it remembers. */
import { describe, expect, it } from 'vitest';
import type { ObjectHead, ObjectStore } from '../../../core/ports/object-store.js';
import type { QueueMessage } from '../../../core/ports/queue.js';
import { PackReader, packKey } from '../../../core/result-packs.js';
import { ResultCheck } from '../../../workers/runtime/result-check.js';

/** A store that only answers HEAD, from a set of keys, and counts the calls. */
function headOnly(existing: Set<string>) {
  const heads: string[] = [];
  const store = {
    async head(key: string): Promise<ObjectHead | undefined> {
      heads.push(key);
      return existing.has(key) ? ({ key } as ObjectHead) : undefined;
    },
  } as unknown as ObjectStore;
  return { store, heads };
}

const message = (receiveCount: number, attributes: Record<string, string> = {}): QueueMessage => ({
  messageId: 'm',
  receiptHandle: 'r',
  body: '',
  receiveCount,
  sentAtMs: 0,
  attributes,
});

describe('ResultCheck', () => {
  it('asks only for a redelivery, a marked message, or a later delivery of a marked batch', async () => {
    const { store, heads } = headOnly(new Set(['results/b/done.json']));
    const check = new ResultCheck(store);
    expect(await check.alreadyDone(message(1), 'b', 'b/a', 'results/b/a.json')).toBeUndefined();
    expect(heads).toEqual([]);
    expect(await check.alreadyDone(message(2), 'b', 'b/done', 'results/b/done.json')).toBe('result exists');
    expect(await check.alreadyDone(message(1), 'c', 'c/x', 'results/c/x.json')).toBeUndefined();
    expect(
      await check.alreadyDone(message(1, { 'flotilla-resent': '1' }), 'c', 'c/y', 'results/c/y.json'),
    ).toBeUndefined();
    // batch c was seen marked: its unmarked first deliveries are checked from now on
    expect(await check.alreadyDone(message(1), 'c', 'c/z', 'results/c/z.json')).toBeUndefined();
    expect(heads).toEqual(['results/b/done.json', 'results/c/y.json', 'results/c/z.json']);
  });

  it('drops a job finished here without a request, and forgets the oldest beyond its capacity', async () => {
    const { store, heads } = headOnly(new Set());
    const check = new ResultCheck(store, 2);
    check.finished('b/1');
    check.finished('b/2');
    expect(await check.alreadyDone(message(1), 'b', 'b/1', 'results/b/1.json')).toBe('finished here');
    check.finished('b/3'); // b/2 is now the oldest (b/1 was just seen again)
    expect(await check.alreadyDone(message(1), 'b', 'b/1', 'results/b/1.json')).toBe('finished here');
    expect(await check.alreadyDone(message(1), 'b', 'b/3', 'results/b/3.json')).toBe('finished here');
    expect(await check.alreadyDone(message(1), 'b', 'b/2', 'results/b/2.json')).toBeUndefined();
    expect(heads).toEqual([]);
  });
});

describe('ResultCheck with result packing', () => {
  it("finds a redelivered job in its batch's packs, listing them once for the checks that follow", async () => {
    const pack = packKey('b', 'w-1');
    const record = { jobId: 'packed', finishedAt: '2026-01-01T00:00:00.000Z' };
    let lists = 0;
    const store = {
      async head() {
        return undefined;
      },
      async *list(prefix: string) {
        lists++;
        if (pack.startsWith(prefix)) yield { key: pack, size: 0, etag: '', lastModifiedMs: 0 };
      },
      async get() {
        return Buffer.from(JSON.stringify({ v: 1, batch: 'b', worker: 'w', at: '', results: [record] }));
      },
    } as unknown as ObjectStore;
    const check = new ResultCheck(store, 16, new PackReader(store));
    expect(await check.alreadyDone(message(2), 'b', 'b/packed', 'results/b/packed.json')).toBe(
      'result exists',
    );
    expect(await check.alreadyDone(message(2), 'b', 'b/other', 'results/b/other.json')).toBeUndefined();
    expect(await check.alreadyDone(message(3), 'b', 'b/third', 'results/b/third.json')).toBeUndefined();
    expect(lists).toBe(1);
  });
});
