/** The figures in README.md and docs/performance.md are the ones generated from bench/latest.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockNames, DOC_FILES, fillBlocks, renderBlocks } from '../../bench/docs-figures.js';
import { readRecord } from '../../bench/record.js';
import { fmt, ROOT } from '../../bench/support.js';

const record = readRecord();
const blocks = renderBlocks(record);

describe('the docs figures', () => {
  it.each(DOC_FILES)('%s shows the tables generated from the committed bench record', (rel) => {
    const text = readFileSync(join(ROOT, rel), 'utf8');
    expect(blockNames(text).length).toBeGreaterThan(0);
    // If this fails, run `npm run docs:figures` (or a full `npm run bench -- --update-docs`).
    expect(text).toBe(fillBlocks(text, blocks));
  });

  it("the README's table carries the record's headline figures", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(blockNames(readme)).toEqual(['readme']);
    expect(readme).toContain(` ${fmt(record.queue!.flotilla)} msgs/s |`);
    expect(readme).toContain(`${fmt(record.full!.jobsPerSecond)} jobs/s`);
    expect(readme).toContain(record.date.slice(0, 10));
  });

  it('a figure edited by hand in a block is put back from the record', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = `${fmt(record.queue!.flotilla)} msgs/s`;
    const stale = readme.replace(shown, '29.3 msgs/s');
    expect(stale).not.toBe(readme);
    expect(fillBlocks(stale, blocks)).toBe(readme);
  });

  it('every block in docs/performance.md has a rendering', () => {
    const perf = readFileSync(join(ROOT, 'docs', 'performance.md'), 'utf8');
    for (const name of blockNames(perf)) expect(blocks.has(name), name).toBe(true);
    expect(blockNames(perf)).toEqual(['machine', 'queue', 'full', 'cpu', 'export', 'startup']);
  });
});
