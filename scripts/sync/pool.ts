/**
 * The bounded pool of sync's checks and transfers, on p-map: at most `limit` tasks at once, and a
 * failure stops nothing. Each failure is returned with its item, for the run's report.
 */
import pMap from 'p-map';

export interface PoolFailure<T> {
  readonly item: T;
  readonly error: unknown;
}

export async function runPool<T>(
  items: Iterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PoolFailure<T>[]> {
  const failures: PoolFailure<T>[] = [];
  const guarded = async (item: T) => {
    try {
      await task(item);
    } catch (error) {
      failures.push({ item, error });
    }
  };
  await pMap(items, guarded, { concurrency: Math.max(1, limit) });
  return failures;
}

/** Every item of an async iterable (a paged listing), in order. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
