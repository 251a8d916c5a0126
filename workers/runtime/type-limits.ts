/**
 * Per-type concurrency (a handler's `maxConcurrency`): a job of a type at its limit waits here,
 * in first-come order, until a job of its type ends. SQS cannot be asked for "any job but
 * type X", so the message is already received: it stays held by this worker (the visibility
 * keeper extends it like a running job's) rather than being given back, which would spend one
 * of its receives and could walk it into the DLQ. Its job slot stays taken while it waits.
 */

export class TypeLimits {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  /**
   * Resolves once a job of `type` may run (at once when `limit` is undefined), with the function
   * that gives its place back. `onWait` gets a function that ends the wait with an error (the
   * drain deadline, a cancel); it is only called when the job has to wait.
   */
  async acquire(
    type: string,
    limit: number | undefined,
    onWait?: (cancel: (reason: Error) => void) => void,
  ): Promise<() => void> {
    if (limit === undefined) return () => {};
    while ((this.running.get(type) ?? 0) >= limit) {
      await new Promise<void>((resolve, reject) => {
        const queue = this.waiting.get(type) ?? [];
        this.waiting.set(type, queue);
        queue.push(resolve);
        onWait?.((reason) => {
          const i = queue.indexOf(resolve);
          if (i >= 0) queue.splice(i, 1);
          reject(reason);
        });
      });
    }
    this.running.set(type, (this.running.get(type) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running.set(type, (this.running.get(type) ?? 1) - 1);
      this.waiting.get(type)?.shift()?.();
    };
  }

  /** Jobs of `type` running now under a limit (for tests and the status line). */
  runningOf(type: string): number {
    return this.running.get(type) ?? 0;
  }
}
