/** The README's first command, run exactly as a user runs it. */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('npm run demo processes the corpus with real workers, verifies the counts and exits 0', () => {
  const run = spawnSync('npm', ['run', '--silent', 'demo'], { encoding: 'utf8', timeout: 240_000 });
  const out = run.stdout;
  expect(run.status, `${out}\n${run.stderr}`).toBe(0);
  expect(out).toMatch(/Started the embedded SQS \+ S3 emulator on http:\/\/127\.0\.0\.1:\d+/);
  expect(out).toMatch(/Started 3 worker processes/);
  expect(out).toMatch(/Fan-out: submitted 200 wordcount jobs/);
  expect(out).toMatch(/Fan-in: merged 200 results: 600000 words, 2000 distinct/);
  expect(out).toMatch(/Verified: the merged counts match the corpus/);
  const rate = Number(/map throughput ([\d.]+) jobs\/s/.exec(out)?.[1]);
  expect(rate).toBeGreaterThan(0);
  expect(out).toMatch(/Stopped 3 workers cleanly/);
  // The top words are listed with counts in descending order.
  const counts = [...out.matchAll(/^ {2}\S+\s+(\d+)$/gm)].map((m) => Number(m[1]));
  expect(counts).toHaveLength(10);
  expect([...counts].sort((a, b) => b - a)).toEqual(counts);
});
