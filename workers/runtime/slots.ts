/** A counting semaphore for job slots: pollers reserve slots before receiving, jobs free them. */
export class Slots {
  private free: number;
  private waiters: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  get available(): number {
    return this.free;
  }

  /** Resolves when a slot is free, or when `cancelled()` turns true (checked on every release). */
  async waitForFree(cancelled: () => boolean): Promise<void> {
    while (this.free <= 0 && !cancelled()) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Take up to `max` free slots (at least one must be free); returns how many were taken. */
  reserveUpTo(max: number): number {
    const n = Math.min(max, this.free);
    this.free -= n;
    return n;
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
