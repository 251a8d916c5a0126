/** The progress reporter: on stderr only, redrawn on a terminal, sparse plain lines elsewhere. */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Progress } from '../../scripts/progress.js';

// Loaded by the reporter when a line is first due; loaded here first so that is at once.
await import('cli-progress');

function stream(isTTY: boolean) {
  const writes: string[] = [];
  const s = {
    isTTY,
    columns: 120,
    write: (chunk: string) => {
      writes.push(String(chunk));
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { s, text: () => writes.join('') };
}

describe('Progress', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints nothing away from a terminal when the run ends before the first line is due', () => {
    const { s, text } = stream(false);
    const p = new Progress({ stream: s, label: 'export b', total: 3, totalBytes: 300 });
    p.addBytes(300);
    p.itemDone(3);
    p.stop();
    expect(text()).toBe('');
  });

  it('prints plain lines (no cursor codes) away from a terminal on a long run', async () => {
    const { s, text } = stream(false);
    const p = new Progress({ stream: s, label: 'export b', total: 4, totalBytes: 4096, plainEveryMs: 30 });
    p.addBytes(1024);
    p.itemDone();
    await sleep(100);
    p.stop();
    const lines = text().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toMatch(/^export b \S* ?1\/4 objects, 1\.0 KiB\/4\.0 KiB, .*\/s, ETA \d+ s$/);
    expect(text()).not.toContain('\x1b');
    expect(text()).not.toContain('\r');
  });

  it('redraws one line in place on a terminal and clears it at the end, never touching stdout', async () => {
    const stdout = vi.spyOn(process.stdout, 'write');
    const { s, text } = stream(true);
    const p = new Progress({ stream: s, label: 'restore b', total: 2, unit: 'objects' });
    p.itemDone();
    await sleep(50);
    p.stop();
    expect(text()).toContain('restore b');
    expect(text()).toContain('1/2 objects');
    expect(text()).not.toContain('\n');
    expect(text().endsWith('\x1b[2K')).toBe(true); // the line is cleared for the summary
    expect(stdout).not.toHaveBeenCalled();
  });

  it('counts without a total, with text after the count', () => {
    const p = new Progress({ stream: stream(false).s, label: 'redriving', unit: 'moved', quiet: true });
    p.set(12, '2 skipped');
    expect(p.line()).toBe('redriving: 12 moved, 2 skipped');
    p.stop();
  });
});
