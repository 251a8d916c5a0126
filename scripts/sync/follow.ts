/**
 * Follow (`flotilla mirror --to URL --follow`): keep a live target level with a live source.
 *
 *   pass       a full mirror (mirror.ts): definitions, then both listings compared; at the start
 *              and every `reconcileMs`, so whatever a round missed is caught;
 *   rounds     every `intervalMs`, the source alone is listed and compared with the previous
 *              listing by ETag, LastModified and size (a same-size overwrite changes the ETag);
 *              new and changed objects are copied, vanished ones deleted (only with `delete`,
 *              within `maxDelete`, never in a round that had an error). With a changes queue
 *              (the bucket's S3 event notifications), rounds read it instead of listing;
 *   checkpoint the target itself: each copy carries the source version it came from in its
 *              metadata (mirror.ts), written with the object, so it never runs ahead of what was
 *              written. A follower killed at any point starts with a pass that copies only what
 *              the target does not hold yet.
 *
 * The recovery point is the age of the oldest source change not yet on the target: every change
 * made before `levelAt` is there. It is on the progress line and in the status file.
 */
import { rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACTIVE_SIDE_KEY, isActive, readActiveSide } from '../../core/active-side.js';
import { S3Store } from '../../core/adapters/s3-store.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { errorText, isMissingObject } from '../../core/errors.js';
import type { QueueMessage } from '../../core/ports/queue.js';
import { copyObject, type MirrorOptions, mirrorDeployment } from './mirror.js';
import { parseObjectEvents } from './object-events.js';
import { objectReader } from './object-reader.js';
import { type Listed, normalizeEtag, sortByKey } from './plan.js';
import { collect, runPool } from './pool.js';

export interface FollowOptions extends Omit<MirrorOptions, 'dryRun' | 'sourceListing' | 'bucket'> {
  readonly bucket: string;
  /** Time between incremental listings. @default 1000 */
  readonly intervalMs?: number;
  /** Time between full passes (definitions and both listings). @default 60000 */
  readonly reconcileMs?: number;
  /** Write the status (FollowStatus as JSON) here after every round. @default - none */
  readonly statusFile?: string;
  /**
   * The bucket's object events (the stack output ChangesQueueUrl): read instead of listing the
   * source every interval. @default - none: the source is listed every `intervalMs`
   */
  readonly changesQueueUrl?: string;
  /** Stops the follower after the round under way. */
  readonly signal?: AbortSignal;
  /** Called after every round and pass. @default - none */
  readonly onRound?: (status: FollowStatus) => void;
}

export interface FollowStatus {
  readonly at: string;
  /** Every source change made before this time is on the target. */
  readonly levelAt: string;
  /** The recovery point: seconds from `levelAt` to `at`. */
  readonly recoveryPointSeconds: number;
  /** Changes seen and not yet applied (failed copies, held-back deletes). */
  readonly pending: number;
  readonly copied: number;
  readonly deleted: number;
  readonly failed: number;
  /** From a change at the source to the target holding it, over the last 10,000 changes. */
  readonly lag: { readonly p50Seconds: number; readonly p99Seconds: number; readonly maxSeconds: number };
  readonly rounds: number;
  readonly passes: number;
  readonly lastError?: string;
  /** Set when the follower stopped because a failover made the source inactive. */
  readonly stoppedBecause?: string;
}

/** What changed between two listings of one bucket: new or changed objects, and vanished ones. */
export function changesBetween(
  before: ReadonlyMap<string, Listed>,
  after: readonly Listed[],
): { puts: Listed[]; gone: Listed[] } {
  const puts: Listed[] = [];
  const seen = new Set<string>();
  for (const o of after) {
    seen.add(o.key);
    const b = before.get(o.key);
    if (
      !b ||
      b.size !== o.size ||
      b.lastModifiedMs !== o.lastModifiedMs ||
      normalizeEtag(b.etag) !== normalizeEtag(o.etag)
    )
      puts.push(o);
  }
  const gone = [...before.values()].filter((b) => !seen.has(b.key));
  return { puts, gone };
}

/** A baseline entry that matches no listing: the key is looked at again next round. */
const redo = (o: Listed): Listed => ({ ...o, etag: '', size: -1 });

const LAG_SAMPLES = 10_000;

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Follow until `signal` aborts. Resolves with the last status. */
export async function followDeployment(opts: FollowOptions): Promise<FollowStatus> {
  const intervalMs = opts.intervalMs ?? 1000;
  const reconcileMs = opts.reconcileMs ?? 60_000;
  const concurrency = opts.concurrency ?? 32;
  const targetName = opts.targetBucket ?? opts.bucket;
  const reader = await objectReader(opts.source.s3, opts.bucket);
  const dst = new S3Store(opts.target.s3, targetName);
  const lags: number[] = [];
  const totals = { copied: 0, deleted: 0, failed: 0, rounds: 0, passes: 0 };
  /** The source as last listed, with failed keys marked to be looked at again. */
  let baseline = new Map<string, Listed>();
  /** When each change not yet applied was made (at the latest). */
  let pending = new Map<string, number>();
  let levelAtMs = 0;
  let lastListedAt = 0;
  let lastError: string | undefined;
  let stoppedBecause: string | undefined;
  const printer = progressLine(opts);
  const changes = opts.changesQueueUrl ? new SqsQueue(opts.source.sqs, opts.changesQueueUrl) : undefined;

  const status = (): FollowStatus => {
    const now = Date.now();
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      at: new Date(now).toISOString(),
      levelAt: new Date(levelAtMs).toISOString(),
      recoveryPointSeconds: Math.max(0, now - levelAtMs) / 1000,
      pending: pending.size,
      ...totals,
      lag: {
        p50Seconds: quantile(sorted, 0.5) / 1000,
        p99Seconds: quantile(sorted, 0.99) / 1000,
        maxSeconds: (sorted.at(-1) ?? 0) / 1000,
      },
      ...(lastError ? { lastError } : {}),
      ...(stoppedBecause ? { stoppedBecause } : {}),
    };
  };
  const settle = (listedAt: number) => {
    lastListedAt = listedAt;
    levelAtMs = Math.min(listedAt, ...pending.values());
    const s = status();
    printer.update(s);
    opts.onRound?.(s);
    return opts.statusFile ? writeStatus(opts.statusFile, s) : undefined;
  };
  const sample = (madeAtMs: number) => {
    lags.push(Math.max(0, Date.now() - madeAtMs));
    if (lags.length > LAG_SAMPLES) lags.splice(0, lags.length - LAG_SAMPLES);
  };

  /**
   * A failover made the source inactive: following on would copy a stale side over the active
   * one (and, with --delete, remove what was written there since), so the follower stops.
   */
  const checkSourceActive = async () => {
    if (!opts.queueUrl) return;
    const rec = await readActiveSide(new S3Store(opts.source.s3, opts.bucket));
    if (!isActive(rec, opts.queueUrl))
      stoppedBecause = `the source is no longer the active side (failover to ${rec?.active.endpoint ?? 'AWS'}); stopped following`;
  };

  /** A full pass: definitions, both listings compared, the target's recorded versions trusted. */
  const pass = async () => {
    await checkSourceActive();
    if (stoppedBecause) return;
    const listedAt = Date.now();
    const listing = sortByKey(await collect(reader.list()));
    const r = await mirrorDeployment({ ...opts, quiet: true, sourceListing: listing });
    totals.passes++;
    totals.copied += r.copied;
    totals.deleted += r.deleted;
    totals.failed += r.failed.length;
    baseline = new Map(listing.map((o) => [o.key, o]));
    pending = new Map();
    for (const f of r.failed) {
      const o = baseline.get(f.key);
      if (o) {
        baseline.set(f.key, redo(o));
        pending.set(f.key, o.lastModifiedMs);
      }
    }
    lastError = r.failed[0] ? `${r.failed[0].key}: ${errorText(r.failed[0].error)}` : r.deleteRefused;
    await settle(listedAt);
  };

  /** An incremental round: the source listed and compared with the last listing. */
  const round = async () => {
    const listedAt = Date.now();
    const listing = sortByKey(await collect(reader.list()));
    const { puts, gone } = changesBetween(baseline, listing);
    if (puts.some((p) => p.key === ACTIVE_SIDE_KEY)) {
      await checkSourceActive();
      if (stoppedBecause) return;
    }
    const next = new Map(listing.map((o) => [o.key, o]));
    const nextPending = new Map<string, number>();
    const failures = await runPool(puts, concurrency, async (s) => {
      try {
        await copyObject(reader, dst, s, opts.multipartBytes ?? 8 * 1024 * 1024, () => {});
        totals.copied++;
        sample(s.lastModifiedMs);
      } catch (err) {
        // Deleted since the listing: next round sees it gone.
        if (isMissingObject(err)) next.set(s.key, redo(s));
        else throw err;
      }
    });
    for (const f of failures) {
      next.set(f.item.key, redo(f.item));
      nextPending.set(f.item.key, f.item.lastModifiedMs);
    }
    totals.failed += failures.length;
    lastError = failures[0] ? `${failures[0].item.key}: ${errorText(failures[0].error)}` : undefined;
    // Deletes: the safety rules of --delete, round by round.
    if (opts.delete && gone.length > 0) {
      // It vanished after the listing before this one: that is as old as the change can be.
      const since = lastListedAt;
      const held = await removeAtTarget(
        gone.map((d) => d.key),
        failures.length,
      );
      if (held) {
        for (const d of gone) {
          next.set(d.key, d);
          nextPending.set(d.key, pending.get(d.key) ?? since);
        }
      } else for (const _ of gone) sample(since);
    }
    baseline = next;
    pending = nextPending;
    totals.rounds++;
    await settle(listedAt);
  };

  /**
   * Delete `keys` at the target under the rules of --delete: none in a round that had errors,
   * none when more than --max-delete. Returns why they were held back, or undefined when done.
   */
  const removeAtTarget = async (keys: readonly string[], errors: number): Promise<string | undefined> => {
    let held = errors > 0 ? `${keys.length} deletion(s) held back: this round had errors` : undefined;
    if (!held && opts.maxDelete !== undefined && keys.length > opts.maxDelete)
      held = `${keys.length} deletion(s) exceed --max-delete ${opts.maxDelete}; none deleted`;
    if (!held) {
      try {
        await dst.deleteMany(keys);
        totals.deleted += keys.length;
      } catch (err) {
        held = `deletes failed: ${errorText(err)}`;
      }
    }
    if (held) lastError = held;
    return held;
  };

  /**
   * A round from the bucket's object events (a changes queue): each key named is read again at
   * the source and copied, or deleted at the target when it is gone. A message is deleted only
   * once every key it names was applied; the others come back after their visibility timeout.
   */
  const notifiedRound = async (changes: SqsQueue) => {
    const receivedAt = Date.now();
    const msgs: QueueMessage[] = [];
    for (let batch = 0; batch < 50; batch++) {
      const got = await changes.receive({
        maxMessages: 10,
        waitTimeSeconds: msgs.length === 0 ? Math.max(1, Math.round(intervalMs / 1000)) : 0,
        visibilityTimeoutSeconds: 60,
        messageAttributes: false,
      });
      msgs.push(...got);
      if (got.length < 10) break;
    }
    const drained = msgs.length < 500;
    const byKey = new Map<string, { atMs: number; messages: Set<QueueMessage> }>();
    for (const m of msgs) {
      for (const e of parseObjectEvents(m.body)) {
        if (e.bucket !== opts.bucket) continue;
        const k = byKey.get(e.key) ?? { atMs: e.atMs, messages: new Set<QueueMessage>() };
        k.atMs = Math.min(k.atMs, e.atMs);
        k.messages.add(m);
        byKey.set(e.key, k);
      }
    }
    if (byKey.has(ACTIVE_SIDE_KEY)) {
      await checkSourceActive();
      if (stoppedBecause) return;
    }
    const gone: string[] = [];
    const failures = await runPool(byKey.keys(), concurrency, async (key) => {
      // The source's current version, whatever the event said (events come unordered).
      const s: Listed = { key, size: 0, etag: '', lastModifiedMs: 0 };
      try {
        await copyObject(reader, dst, s, opts.multipartBytes ?? 8 * 1024 * 1024, () => {});
        totals.copied++;
        sample(byKey.get(key)!.atMs);
      } catch (err) {
        if (isMissingObject(err)) gone.push(key);
        else throw err;
      }
    });
    totals.failed += failures.length;
    lastError = failures[0] ? `${failures[0].item}: ${errorText(failures[0].error)}` : undefined;
    const unapplied = new Set(failures.map((f) => f.item));
    if (gone.length > 0) {
      const held = opts.delete ? await removeAtTarget(gone, failures.length) : undefined;
      if (held) for (const k of gone) unapplied.add(k);
      else if (opts.delete) for (const k of gone) sample(byKey.get(k)!.atMs);
    }
    const keep = new Set([...unapplied].flatMap((k) => [...byKey.get(k)!.messages]));
    const done = msgs.filter((m) => !keep.has(m));
    for (let i = 0; i < done.length; i += 10) {
      await changes.deleteBatch(
        done.slice(i, i + 10).map((m, j) => ({ id: String(j), receiptHandle: m.receiptHandle })),
      );
    }
    pending = new Map([...unapplied].map((k) => [k, byKey.get(k)!.atMs]));
    totals.rounds++;
    // Level as of this receive when it emptied the queue; else as of the oldest change seen.
    const oldestSeen = Math.min(...[...byKey.values()].map((k) => k.atMs));
    await settle(drained ? receivedAt : Math.min(oldestSeen, receivedAt));
  };

  try {
    let lastPass = 0;
    while (!opts.signal?.aborted && !stoppedBecause) {
      const started = Date.now();
      try {
        if (started - lastPass >= reconcileMs) {
          await pass();
          lastPass = started;
        } else if (changes) {
          await notifiedRound(changes);
        } else {
          await round();
        }
      } catch (err) {
        // A listing or the definitions failed (an outage): say so and try again next interval.
        lastError = errorText(err);
        printer.update(status());
      }
      // A changes queue's long poll is the wait.
      const wait = changes ? 0 : intervalMs - (Date.now() - started);
      if (wait > 0) await sleep(wait, undefined, { signal: opts.signal }).catch(() => {});
    }
    return status();
  } finally {
    printer.stop();
    reader.close();
  }
}

async function writeStatus(file: string, s: FollowStatus): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(s)}\n`);
  await rename(tmp, file);
}

/** One line on stderr: redrawn in place on a terminal, printed every 10 s to a log. */
function progressLine(opts: FollowOptions) {
  const stream = opts.progress as NodeJS.WritableStream & { isTTY?: boolean };
  const tty = stream.isTTY === true;
  let lastPrinted = 0;
  const label = `follow ${opts.bucket} → ${opts.targetBucket ?? opts.bucket}`;
  return {
    update(s: FollowStatus) {
      if (opts.quiet) return;
      const now = Date.now();
      if (!tty && now - lastPrinted < 10_000) return;
      lastPrinted = now;
      const line =
        `${label}: recovery point ${s.recoveryPointSeconds.toFixed(1)} s · copied ${s.copied}, deleted ${s.deleted}` +
        ` · lag p50 ${s.lag.p50Seconds.toFixed(1)} s p99 ${s.lag.p99Seconds.toFixed(1)} s` +
        (s.pending > 0 ? ` · ${s.pending} pending` : '') +
        (s.lastError ? ` · ${s.lastError}` : '');
      stream.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    },
    stop() {
      if (tty && !opts.quiet && lastPrinted > 0) stream.write('\n');
    },
  };
}
