/** Helpers for the isolation tests: pids a child printed, and whether a process is still there. */

/** Pids printed as "<word> <pid>" lines (the fixtures print "child 123", "grandchild 124"). */
export function pidsFromLines(lines: readonly string[]): number[] {
  return lines.flatMap((l) => {
    const m = /^(?:child|grandchild) (\d+)$/.exec(l.trim());
    return m ? [Number(m[1])] : [];
  });
}

/** True while a process with this pid exists (and is not a zombie waiting to be reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A killed orphan is reaped by init at once; a zombie would still answer kill(0).
    const { readFileSync } = require('node:fs') as typeof import('node:fs');
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The pids still alive after giving them up to `ms` to go: a killed orphan is reaped by init a
 * moment later, and on a busy machine that moment can be long.
 */
export async function stillAlive(pids: readonly number[], ms = 2000): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return pids.filter(alive);
}

/** The error a run rejects with; a run that succeeds fails the test. */
export function failure(run: Promise<unknown>): Promise<Error & { outOfMemory?: boolean }> {
  return run.then(
    (v) => {
      throw new Error(`expected the run to fail, it returned ${JSON.stringify(v)}`);
    },
    (e: Error) => e,
  );
}
