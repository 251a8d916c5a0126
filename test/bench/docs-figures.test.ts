/** The figures in README.md and docs/performance.md are the ones generated from bench/latest.json. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

describe('npm run docs:figures -- --check', () => {
  const check = (from?: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'docs-figures.ts'),
        '--check',
        ...(from ? ['--from', from] : []),
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );

  it('passes on the committed record and fails, naming the files, on a record with other figures', () => {
    expect(check().status).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-figures-'));
    try {
      const other = join(dir, 'bench.json');
      const q = record.queue!;
      writeFileSync(other, JSON.stringify({ ...record, queue: { ...q, flotilla: q.flotilla + 1000 } }));
      const r = check(other);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('README.md, docs/performance.md do not match');
      // --check writes nothing.
      expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(` ${fmt(q.flotilla)} msgs/s |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
