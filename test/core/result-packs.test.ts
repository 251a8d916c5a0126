/** PackReader: which record counts for a job found more than once, and how often a pack is fetched. */
import { describe, expect, it } from 'vitest';
import type { ObjectInfo, ObjectStore } from '../../core/ports/object-store.js';
import { isPackKey, PackReader, packBody, packKey, splitResults } from '../../core/result-packs.js';

/** An in-memory bucket that answers list and get, and counts the GETs per key. */
function memoryStore(objects: Map<string, string>) {
  const gets = new Map<string, number>();
  const store = {
    async *list(prefix = ''): AsyncIterable<ObjectInfo> {
      for (const key of [...objects.keys()].sort())
        if (key.startsWith(prefix)) yield { key, size: 0, etag: '', lastModifiedMs: 0 };
    },
    async get(key: string): Promise<Buffer> {
      gets.set(key, (gets.get(key) ?? 0) + 1);
      const body = objects.get(key);
      if (body === undefined) throw Object.assign(new Error('gone'), { name: 'NoSuchKey' });
      return Buffer.from(body);
    },
  } as unknown as ObjectStore;
  return { store, gets };
}

const record = (jobId: string, finishedAt: string, worker = 'w') =>
  JSON.stringify({
    v: 1,
    jobId,
    batch: 'b',
    type: 't',
    status: 'done',
    result: worker,
    attempt: 1,
    startedAt: finishedAt,
    finishedAt,
    durationMs: 0,
    worker,
  });

describe('PackReader', () => {
  it('counts a job found in two packs by the record that finished first, then by the smaller pack key', async () => {
    const objects = new Map([
      [packKey('b', 'x-1'), packBody('b', 'x', [record('j1', '2026-01-01T00:00:02.000Z', 'late')])],
      [packKey('b', 'y-1'), packBody('b', 'y', [record('j1', '2026-01-01T00:00:01.000Z', 'early')])],
      [packKey('b', 'a-1'), packBody('b', 'a', [record('j2', '2026-01-01T00:00:01.000Z', 'a')])],
      [packKey('b', 'c-1'), packBody('b', 'c', [record('j2', '2026-01-01T00:00:01.000Z', 'c')])],
    ]);
    const reader = new PackReader(memoryStore(objects).store);
    const index = await reader.batchIndex('b');
    expect(index).toEqual(
      new Map([
        ['j1', packKey('b', 'y-1')],
        ['j2', packKey('b', 'a-1')],
      ]),
    );
    expect((await reader.record(packKey('b', 'y-1'), 'j1'))?.result).toBe('early');
  });

  it('fetches each pack once however often a batch is polled, and its records without a second GET', async () => {
    const objects = new Map<string, string>();
    for (let p = 0; p < 5; p++) {
      const records = Array.from({ length: 10 }, (_, i) => record(`j${p}-${i}`, '2026-01-01T00:00:00.000Z'));
      objects.set(packKey('b', `w-${p}`), packBody('b', 'w', records));
    }
    const { store, gets } = memoryStore(objects);
    // Contents of every pack kept, whole packs of two only.
    const reader = new PackReader(store, { maxPacks: 2 });
    for (let poll = 0; poll < 3; poll++) expect((await reader.batchIndex('b')).size).toBe(50);
    expect([...gets.values()]).toEqual([1, 1, 1, 1, 1]);
    // The last two packs read are kept whole: their records need no GET; the others one GET each.
    const where = await reader.batchIndex('b');
    const records = await reader.records(where);
    expect(records.size).toBe(50);
    expect([...gets.values()].reduce((a, b) => a + b, 0)).toBe(5 + 3);
  });

  it('skips a pack that is gone between the listing and the read', async () => {
    const { store } = memoryStore(new Map());
    const reader = new PackReader(store);
    expect(await reader.index([packKey('b', 'gone')])).toEqual(new Map());
    expect(await reader.record(packKey('b', 'gone'), 'j1')).toBeUndefined();
  });

  it('tells packs from single records in a listing of results/<batch>/', () => {
    const listing = [
      { key: 'results/b/j1.json' },
      { key: packKey('b', 'w-1') },
      { key: 'results/b/packs.json' },
    ];
    expect(splitResults(listing)).toEqual({
      singles: [{ key: 'results/b/j1.json' }, { key: 'results/b/packs.json' }],
      packs: [{ key: 'results/b/packs/w-1.json' }],
    });
    expect(isPackKey('results/b/packs/x/y.json')).toBe(false);
  });
});
