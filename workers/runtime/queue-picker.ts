/**
 * Which queue a free job slot tries first, when a worker serves several. SQS has no priorities,
 * so the worker makes them: each receive sweep asks the queues in the order given here and
 * takes from the first that has jobs (poller.ts).
 *
 * - 'priority': always highest priority first, so a free slot takes from the highest non-empty
 *   queue; a lower queue only runs while every higher one is empty.
 * - 'weighted': the queue that has had the least of its share so far first (jobs taken divided by
 *   weight, a start-time fair queue), so while all have jobs each gets its weight's share of the
 *   slots; a queue found empty is brought up to the current virtual time, so it cannot bank credit
 *   while idle and then starve the others.
 */

export type QueueMode = 'priority' | 'weighted';

export class QueuePicker<S> {
  private readonly served = new Map<S, number>();
  /** Jobs per unit of weight of the queue served last: the weighted mode's clock. */
  private virtualTime = 0;

  /** `sources` highest priority first; `weightOf` gives each one's share in weighted mode. */
  constructor(
    private readonly sources: readonly S[],
    private readonly mode: QueueMode,
    private readonly weightOf: (s: S) => number,
  ) {
    for (const s of sources) this.served.set(s, 0);
  }

  /** The order of the next sweep. */
  order(): readonly S[] {
    if (this.mode === 'priority' || this.sources.length === 1) return this.sources;
    // A stable sort: ties keep the priority order.
    return [...this.sources].sort((a, b) => this.vt(a) - this.vt(b));
  }

  /** `count` jobs were taken from `source`. */
  took(source: S, count: number): void {
    const served = (this.served.get(source) ?? 0) + count;
    this.served.set(source, served);
    this.virtualTime = served / this.weightOf(source);
  }

  /** `source` had nothing to give. */
  empty(source: S): void {
    if (this.vt(source) < this.virtualTime) this.served.set(source, this.virtualTime * this.weightOf(source));
  }

  private vt(s: S): number {
    return (this.served.get(s) ?? 0) / this.weightOf(s);
  }
}
