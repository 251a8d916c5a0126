/**
 * The EC2 Spot two-minute warning: polls IMDSv2 `spot/instance-action` (404 until EC2 decides to
 * stop, hibernate or terminate this instance, then `{"action": ..., "time": ...}`) and calls
 * `onNotice` once, so the worker starts the same drain as on SIGTERM: it takes no more jobs,
 * finishes or hands back the running ones, and exits before the instance goes, instead of
 * losing them when it does.
 *
 * Fargate Spot needs none of this: ECS sends the task SIGTERM on the same warning.
 */
import type { Imds } from './imds.js';

export interface SpotNotice {
  /** stop, hibernate or terminate */
  readonly action: string;
  /** When EC2 will act (ISO time), about two minutes after the notice. */
  readonly time: string;
}

export interface SpotWatchOptions {
  readonly imds: Imds;
  readonly onNotice: (notice: SpotNotice) => void;
  /** How often IMDS is asked. @default 5000 */
  readonly intervalMs?: number;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface SpotWatch {
  stop(): void;
}

export function parseSpotNotice(text: string): SpotNotice {
  try {
    const v = JSON.parse(text) as Partial<SpotNotice>;
    return { action: String(v.action ?? 'terminate'), time: String(v.time ?? '') };
  } catch {
    return { action: 'terminate', time: '' }; // a notice we cannot read is still a notice
  }
}

/** Starts polling at once; stops after the first notice or on `stop()`. */
export function watchSpotInterruption(opts: SpotWatchOptions): SpotWatch {
  const log = opts.log ?? (() => {});
  const intervalMs = opts.intervalMs ?? 5000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  const poll = async () => {
    try {
      const text = await opts.imds.get('spot/instance-action');
      if (failing) log('spot interruption watch: IMDS answers again');
      failing = false;
      if (text !== undefined && !stopped) {
        stopped = true;
        opts.onNotice(parseSpotNotice(text));
        return;
      }
    } catch (err) {
      // Logged once per outage; the watch keeps trying (IMDS may come back, the drain on
      // SIGTERM still covers what this misses).
      if (!failing) log('spot interruption watch: cannot read IMDS', { error: (err as Error).message });
      failing = true;
    }
    if (!stopped) {
      timer = setTimeout(poll, intervalMs);
      timer.unref();
    }
  };
  void poll();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
