/**
 * Exponential back-off with equal jitter, the one rule behind both a job's retry delay and a
 * poller's wait while the queue is down: the n-th wait is drawn from [cap/2, cap], where cap
 * doubles from `baseMs` up to `maxMs`. Half the wait is certain (the back-off holds), half is
 * random (workers that failed together do not come back together).
 */
export function backoffMs(
  n: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(n - 1, 0), 30));
  return cap / 2 + random() * (cap / 2);
}
