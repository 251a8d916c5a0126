/** A bounded pool: at most `limit` tasks at once; every failure is collected, none stops the rest. */

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
  const it = items[Symbol.iterator]();
  const worker = async () => {
    for (let next = it.next(); !next.done; next = it.next()) {
      try {
        await task(next.value);
      } catch (error) {
        failures.push({ item: next.value, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  return failures;
}

/** Every item of an async iterable (a paged listing), in order. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
