/**
 * `npm run bench` leaves the clone as it was: its record and plots go to bench/out/ (gitignored)
 * unless --update-docs asks for the docs. The smallest run there is: --quick, startup only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchRecord } from '../../bench/record.js';
import { ROOT } from '../../bench/support.js';

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
const bench = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    timeout: 120_000,
  });

describe('npm run bench', () => {
  it('writes its JSON record under bench/out and leaves git status as it was', { timeout: 150_000 }, () => {
    const before = git('status', '--porcelain', '--untracked-files=all');
    const outDir = join(ROOT, 'bench', 'out');
    // A fresh clone has no bench/out yet: the run makes it.
    const had = new Set(existsSync(outDir) ? readdirSync(outDir) : []);
    const r = bench('--quick', '--only', 'startup');
    expect(r.status, r.stderr).toBe(0);
    expect(git('status', '--porcelain', '--untracked-files=all')).toBe(before);
    const fresh = readdirSync(outDir).filter((f) => f.endsWith('.json') && !had.has(f));
    expect(fresh).toHaveLength(1);
    const record = JSON.parse(readFileSync(join(outDir, fresh[0]!), 'utf8')) as BenchRecord;
    expect(record.options.quick).toBe(true);
    expect(record.startup!.firstReceiveMs).toBeGreaterThan(0);
    expect(record.queue).toBeUndefined();
  });

  it('refuses --update-docs on a quick or partial run, before measuring anything', () => {
    for (const args of [['--quick'], ['--only', 'export']]) {
      const r = bench('--update-docs', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toBe('bench: --update-docs takes a full run: not with --quick or --only');
    }
  });
});
