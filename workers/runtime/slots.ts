/** A counting semaphore for job slots: pollers take slots before receiving, jobs give them back. */
export class Slots {
  private free: number;
  private waiters: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  /**
   * Wait until a slot is free, then take up to `max` at once (checked and taken in one step, so
   * two pollers woken together never both take the same slot). Resolves 0 if `cancelled()`.
   */
  async take(max: number, cancelled: () => boolean): Promise<number> {
    for (;;) {
      if (cancelled()) return 0;
      if (this.free > 0) {
        const n = Math.min(max, this.free);
        this.free -= n;
        return n;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  release(n: number): void {
    if (n <= 0) return;
    this.free = Math.min(this.size, this.free + n);
    this.wakeAll();
  }

  /** Wake every waiter so it can re-check (used on stop). */
  wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
