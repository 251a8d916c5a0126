/**
 * docs/workers.md's bucket-layout table against core/layout.ts, the one declaration the grants
 * and ctx.store derive from: a prefix added or a grant changed there without the docs fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DATA_LAYOUT } from '../../core/layout.js';

const doc = readFileSync(new URL('../../docs/workers.md', import.meta.url), 'utf8');

/** The table's rows, as prefix → the worker's and the submitter's cells. */
function tableRows(): Map<string, { worker: string; submitter: string }> {
  const rows = new Map<string, { worker: string; submitter: string }>();
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => /^\| prefix +\| holds +\| worker +\| submitter +\|/.test(l));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  for (const line of lines.slice(start, end)) {
    const cells = line.split('|').map((c) => c.trim());
    const prefix = /^`([^`]+\/)`$/.exec(cells[1] ?? '')?.[1];
    if (prefix) rows.set(prefix, { worker: cells[3] ?? '', submitter: cells[4] ?? '' });
  }
  return rows;
}

describe('the bucket layout in docs/workers.md', () => {
  it("lists every prefix with the worker's and the submitter's access as core/layout.ts grants them", () => {
    const rows = tableRows();
    expect([...rows.keys()].sort()).toEqual(DATA_LAYOUT.prefixes.map((p) => p.prefix).sort());
    for (const p of DATA_LAYOUT.prefixes) {
      expect({ prefix: p.prefix, ...rows.get(p.prefix) }).toEqual({
        prefix: p.prefix,
        worker: (p.grants.worker ?? []).join(', '),
        submitter: (p.grants.submitter ?? []).join(', '),
      });
    }
  });
});
