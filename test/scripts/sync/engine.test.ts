/** The shape every sync flow shares: what it transfers, skips, checks and removes, and when it refuses to. */
import { describe, expect, it } from 'vitest';
import { type SyncFlow, syncObjects } from '../../../scripts/sync/engine.js';

interface Obj {
  key: string;
  size: number;
  v: number;
}

const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const objs = (...specs: [string, number][]): Obj[] => specs.map(([key, v]) => ({ key, size: 10, v }));

/** A destination held in a Map; `failOn` keys throw on transfer. */
function flow(source: Obj[], dest: Obj[], failOn: string[] = []) {
  const held = new Map(dest.map((d) => [d.key, d]));
  const transferred: string[] = [];
  const checked: string[] = [];
  const f: SyncFlow<Obj, Obj> = {
    source,
    dest,
    // Same version: same; an even version difference is settled only by a closer look.
    decide: (s, d) => (s.v === d.v ? 'same' : (s.v - d.v) % 2 === 0 ? 'check' : 'transfer'),
    check: async (s, d) => {
      checked.push(s.key);
      return s.v - d.v === 2; // the look says: the same after all
    },
    transfer: async (s, onBytes) => {
      if (failOn.includes(s.key)) throw new Error(`refused ${s.key}`);
      held.set(s.key, s);
      transferred.push(s.key);
      onBytes(s.size);
      return s.size;
    },
    remove: async (gone) => {
      for (const d of gone) held.delete(d.key);
    },
  };
  return { f, held, transferred, checked };
}

const base = { label: 'test', concurrency: 4, progress: sink, quiet: true };

describe('syncObjects', () => {
  it('transfers new and changed objects, skips the same, and settles the unclear ones by a check', async () => {
    const t = flow(
      objs(['a', 1], ['b', 1], ['c', 3], ['d', 3], ['e', 1]),
      objs(['b', 1], ['c', 2], ['d', 1], ['z', 1]),
    );
    const r = await syncObjects(t.f, base);
    expect(t.transferred.sort()).toEqual(['a', 'c', 'e']);
    expect(t.checked).toEqual(['d']);
    expect(r.skipped).toBe(2);
    expect(r.transferred).toBe(3);
    expect(r.transferredBytes).toBe(30);
    expect(r.plan.map((p) => `${p.action} ${p.key}`)).toEqual(['copy a', 'update c', 'copy e']);
    // Not asked to delete: what only the destination holds stays.
    expect(r.gone.map((d) => d.key)).toEqual(['z']);
    expect(t.held.has('z')).toBe(true);
  });

  it('counts the bytes of every transfer when they finish out of order', async () => {
    const t = flow(objs(['a', 1], ['b', 1], ['c', 1], ['d', 1]), []);
    const transfer = t.f.transfer;
    // Later keys finish first, all four in flight at once.
    const r = await syncObjects(
      {
        ...t.f,
        transfer: async (s, onBytes) => {
          await new Promise((done) => setTimeout(done, 4 * (100 - s.key.charCodeAt(0))));
          return transfer(s, onBytes);
        },
      },
      base,
    );
    expect(r.transferred).toBe(4);
    expect(r.transferredBytes).toBe(40);
  });

  it('removes destination-only objects only when asked, and within --max-delete', async () => {
    const limited = flow(objs(['a', 1]), objs(['x', 1], ['y', 1]));
    const refused = await syncObjects(limited.f, { ...base, delete: true, maxDelete: 1 });
    expect(refused.deleted).toBe(0);
    expect(refused.deleteRefused).toMatch(/exceed --max-delete 1/);
    expect([...limited.held.keys()].sort()).toEqual(['a', 'x', 'y']);

    const asked = flow(objs(['a', 1]), objs(['x', 1], ['y', 1]));
    const r = await syncObjects(asked.f, { ...base, delete: true });
    expect(r.deleted).toBe(2);
    expect([...asked.held.keys()]).toEqual(['a']);
  });

  it('deletes nothing in a run where a transfer failed, and the other transfers still happen', async () => {
    const t = flow(objs(['a', 1], ['b', 1], ['c', 1]), objs(['x', 1]), ['b']);
    const r = await syncObjects(t.f, { ...base, delete: true });
    expect(r.failed.map((f) => f.key)).toEqual(['b']);
    expect(t.transferred.sort()).toEqual(['a', 'c']);
    expect(r.deleted).toBe(0);
    expect(r.deleteRefused).toMatch(/this run had 1 error/);
    expect(t.held.has('x')).toBe(true);
  });

  it('plans without transferring or removing anything on a dry run', async () => {
    const t = flow(objs(['a', 1], ['b', 2]), objs(['b', 1], ['x', 1]));
    const r = await syncObjects(t.f, { ...base, delete: true, dryRun: true });
    expect(r.plan.map((p) => `${p.action} ${p.key}`)).toEqual(['copy a', 'update b', 'delete x']);
    expect(t.transferred).toEqual([]);
    expect(t.held.has('x')).toBe(true);
  });

  it('runs at most `concurrency` transfers at once', async () => {
    let now = 0;
    let most = 0;
    const source = Array.from({ length: 40 }, (_, i) => ({
      key: `k${String(i).padStart(2, '0')}`,
      size: 1,
      v: 1,
    }));
    const r = await syncObjects(
      {
        source,
        dest: [],
        decide: () => 'same',
        transfer: async () => {
          most = Math.max(most, ++now);
          await new Promise((res) => setTimeout(res, 2));
          now--;
          return 1;
        },
      },
      { ...base, concurrency: 3 },
    );
    expect(r.transferred).toBe(40);
    expect(most).toBe(3);
  });
});
