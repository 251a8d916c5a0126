/**
 * Scale-in protection while the worker is busy: on as soon as a job runs, off after a short
 * idle spell (so a steady trickle of jobs does not flip it per job), and off when the worker
 * stops. Calls to the guard go one after another, and a failed call is logged, never thrown:
 * protection is a courtesy to the scaler, not a condition for running jobs.
 */
import { errorText } from '../../core/errors.js';
import type { ScaleInGuard } from '../../core/ports/scale-in-guard.js';
import type { Logger } from './logger.js';

export class ScaleInProtection {
  private enabled = false;
  private chain: Promise<void> = Promise.resolve();
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly guard: ScaleInGuard,
    private readonly log: Logger,
    private readonly idleMs = 2000,
  ) {}

  /** Called whenever the number of running jobs changes. */
  onBusyChange(running: number): void {
    if (running > 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (!this.enabled) void this.set(true);
    } else if (this.enabled && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        void this.set(false);
      }, this.idleMs);
      this.idleTimer.unref();
    }
  }

  /** Protection off for good (the worker has stopped); settles once the guard has been told. */
  stop(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return this.set(false);
  }

  private set(enabled: boolean): Promise<void> {
    if (this.enabled === enabled) return this.chain;
    this.enabled = enabled;
    this.chain = this.chain.then(async () => {
      try {
        await this.guard.protect(enabled);
      } catch (err) {
        this.log.warn('scale-in protection call failed', {
          guard: this.guard.name,
          enabled,
          error: errorText(err),
        });
      }
    });
    return this.chain;
  }
}
