/**
 * The one shape of export, mirror and restore (rclone's sync): plan → transfer → finish, for any
 * source (a bucket's listing, an export folder's manifest) and any destination (a folder's
 * manifest, a bucket's listing). Each flow supplies two sorted listings and four small functions;
 * this file owns the order of things and the rules every flow keeps:
 *
 *   plan      the listings → march → source-only pairs are transferred, matched pairs decided by
 *             the flow's pure rule ('same', 'transfer', or 'check' when the listings cannot settle
 *             it), and the checks (a stat, a HEAD) run in a bounded pool.
 *   transfer  the copies in a bounded pool, in key order, with progress on stderr; a failure is
 *             collected with its key and stops nothing else.
 *   finish    destination-only objects are removed only when asked, within --max-delete, and
 *             never after an error in the same run. A dry run stops after the plan.
 */
import { Progress } from '../progress.js';
import { compareKeys } from './keys.js';
import { march } from './plan.js';
import { runPool } from './pool.js';

/** What a flow's rule says of a matched pair, from the listings alone. */
export type Verdict = 'same' | 'transfer' | 'check';

interface Item {
  readonly key: string;
  readonly size: number;
}

export interface PlanItem {
  readonly action: 'copy' | 'update' | 'delete';
  readonly key: string;
  readonly size: number;
}

export interface SyncFlow<S extends Item, D extends Item> {
  /** The source's objects, sorted by `compareKeys`. */
  readonly source: readonly S[];
  /** What the destination holds, sorted by `compareKeys`. */
  readonly dest: readonly D[];
  /** The rule for a matched pair. Pure: no I/O. */
  decide(src: S, dst: D): Verdict;
  /** A closer look at a 'check' pair: true when the destination already holds `src`. */
  check?(src: S, dst: D): Promise<boolean>;
  /** Move one object, reporting bytes as they move; resolves to the bytes moved. */
  transfer(src: S, onBytes: (n: number) => void): Promise<number>;
  /** Remove destination-only objects; called only when asked and nothing failed. */
  remove?(gone: readonly D[]): Promise<void>;
}

export interface SyncOptions {
  /** The progress line's label. */
  readonly label: string;
  /** Transfers in flight. */
  readonly concurrency: number;
  /** Checks in flight. @default 32 */
  readonly checkConcurrency?: number;
  /** Remove destination-only objects. @default false */
  readonly delete?: boolean;
  /** With `delete`: if more would go, remove none. @default - no limit */
  readonly maxDelete?: number;
  /** Plan only: transfer and remove nothing. @default false */
  readonly dryRun?: boolean;
  readonly progress: NodeJS.WritableStream;
  /** @default false */
  readonly quiet?: boolean;
}

/** How export, mirror, restore and failover report: plan only or not, where the plan and the progress go. */
export interface SyncReporting {
  /** Print the plan, change nothing. @default false */
  readonly dryRun?: boolean;
  /** The plan (dry run) goes here. @default - nowhere */
  readonly out?: NodeJS.WritableStream;
  /** The progress line and the summary. */
  readonly progress: NodeJS.WritableStream;
  /** No progress line. @default false */
  readonly quiet?: boolean;
}

export interface SyncFailure {
  readonly key: string;
  readonly error: unknown;
}

export interface SyncResult<D> {
  /** Transfers in key order, then removals when asked. */
  readonly plan: readonly PlanItem[];
  readonly transferred: number;
  readonly transferredBytes: number;
  readonly skipped: number;
  /** Destination-only objects (removed or not: see `deleted`). */
  readonly gone: readonly D[];
  readonly deleted: number;
  /** Set when removals were held back, with the reason. */
  readonly deleteRefused?: string;
  readonly failed: readonly SyncFailure[];
}

export async function syncObjects<S extends Item, D extends Item>(
  flow: SyncFlow<S, D>,
  opts: SyncOptions,
): Promise<SyncResult<D>> {
  // Plan.
  const moves: { src: S; action: 'copy' | 'update' }[] = [];
  const toCheck: { src: S; dst: D }[] = [];
  const gone: D[] = [];
  let skipped = 0;
  for (const p of march(flow.source, flow.dest)) {
    if (p.kind === 'source-only') moves.push({ src: p.src, action: 'copy' });
    else if (p.kind === 'dest-only') gone.push(p.dst);
    else {
      const verdict = flow.decide(p.src, p.dst);
      if (verdict === 'same') skipped++;
      else if (verdict === 'transfer' || !flow.check) moves.push({ src: p.src, action: 'update' });
      else toCheck.push({ src: p.src, dst: p.dst });
    }
  }
  const failed: SyncFailure[] = [];
  const check = flow.check;
  if (check && toCheck.length > 0) {
    const checkFailures = await runPool(toCheck, opts.checkConcurrency ?? 32, async ({ src, dst }) => {
      if (await check(src, dst)) skipped++;
      else moves.push({ src, action: 'update' });
    });
    for (const f of checkFailures) failed.push({ key: f.item.src.key, error: f.error });
    moves.sort((a, b) => compareKeys(a.src.key, b.src.key));
  }
  const plan: PlanItem[] = moves.map(({ src, action }) => ({ action, key: src.key, size: src.size }));
  if (opts.delete) for (const d of gone) plan.push({ action: 'delete', key: d.key, size: d.size });
  const result = { plan, skipped, gone, failed };
  if (opts.dryRun) return { ...result, transferred: 0, transferredBytes: 0, deleted: 0 };

  // Transfer.
  let transferred = 0;
  let transferredBytes = 0;
  if (moves.length > 0) {
    const progress = new Progress({
      stream: opts.progress,
      label: opts.label,
      total: moves.length,
      totalBytes: moves.reduce((n, m) => n + m.src.size, 0),
      quiet: opts.quiet ?? false,
    });
    const onBytes = (n: number) => progress.addBytes(n);
    try {
      const failures = await runPool(moves, opts.concurrency, async ({ src }) => {
        // Added after the await: `total += await x` would read the total before the transfer,
        // and transfers in flight together would overwrite each other's bytes.
        const bytes = await flow.transfer(src, onBytes);
        transferredBytes += bytes;
        transferred++;
        progress.itemDone();
      });
      for (const f of failures) failed.push({ key: f.item.src.key, error: f.error });
    } finally {
      progress.stop();
    }
  }

  // Finish: removals only when asked, within the limit, and never after an error.
  let deleted = 0;
  let deleteRefused: string | undefined;
  if (opts.delete && gone.length > 0) {
    if (failed.length > 0) {
      deleteRefused = `${gone.length} deletion(s) skipped: this run had ${failed.length} error(s)`;
    } else if (opts.maxDelete !== undefined && gone.length > opts.maxDelete) {
      deleteRefused = `${gone.length} deletion(s) exceed --max-delete ${opts.maxDelete}; nothing deleted`;
    } else if (flow.remove) {
      await flow.remove(gone);
      deleted = gone.length;
    }
  }
  return { ...result, transferred, transferredBytes, deleted, ...(deleteRefused ? { deleteRefused } : {}) };
}

/** A dry run's plan, one line per change, on `out` (stdout: it is the command's result). */
export function printPlan(plan: readonly PlanItem[], out: NodeJS.WritableStream): void {
  for (const p of plan) out.write(`${p.action.padEnd(6)} ${JSON.stringify(p.key)} (${p.size} bytes)\n`);
}
