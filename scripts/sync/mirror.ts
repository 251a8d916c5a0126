/**
 * Mirror: a live source → a live target, incrementally, in the shape of engine.ts: listings of
 * both buckets → decide (listing shortcut, then the source version the target recorded, by HEAD)
 * → copies → deletes only when asked, within --max-delete, and never after an error.
 *
 * Each copied object carries the source version it came from in its metadata
 * (flotilla-source-etag, flotilla-source-mtime, and flotilla-sha256 for objects copied whole),
 * so a re-run skips unchanged objects without reading them again, whatever the ETag scheme.
 */

import { createHash } from 'node:crypto';
import { S3Store } from '../../core/adapters/s3-store.js';
import { UsageError } from '../../core/errors.js';
import type { NamedQueue } from '../../core/queue-list.js';
import { bodyStream } from '../../core/transport/body.js';
import {
  applyBucket,
  applyQueues,
  describeBucket,
  describeQueues,
  type LiveSide,
  targetListing,
} from './describe.js';
import { type PlanItem, printPlan, type SyncReporting, type SyncResult, syncObjects } from './engine.js';
import type { QueueDescription } from './folder.js';
import { type ObjectReader, objectReader } from './object-reader.js';
import { type Listed, needsTransfer, normalizeEtag, sameByListing, sortByKey } from './plan.js';
import { collect } from './pool.js';
import { headersOf } from './transfer.js';

export const MIRROR_KEYS = ['flotilla-source-etag', 'flotilla-source-mtime', 'flotilla-sha256'] as const;
const MiB = 1024 * 1024;

export interface MirrorOptions extends SyncReporting {
  readonly source: LiveSide;
  readonly target: LiveSide;
  readonly bucket?: string;
  /** @default - the source bucket's name */
  readonly targetBucket?: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  /** Every job queue by name. @default - `queueUrl` and the queues found beside it by name */
  readonly queues?: readonly NamedQueue[];
  /** Delete target objects the source no longer has. @default false */
  readonly delete?: boolean;
  /** With --delete: refuse to delete more than this many (and delete none). @default - no limit */
  readonly maxDelete?: number;
  /** @default 32 */
  readonly concurrency?: number;
  /** Objects at least this big are streamed as multipart uploads. @default 8 MiB */
  readonly multipartBytes?: number;
  /** The plan (dry run) goes here. */
  readonly out: NodeJS.WritableStream;
  /** The source's listing, taken by the caller (the follower keeps it as its baseline). @default - listed here */
  readonly sourceListing?: readonly Listed[];
}

export interface MirrorResult {
  readonly plan: readonly PlanItem[];
  readonly copied: number;
  readonly copiedBytes: number;
  readonly skipped: number;
  readonly deleted: number;
  /** Set when deletes were held back, with the reason. */
  readonly deleteRefused?: string;
  readonly failed: readonly { key: string; error: unknown }[];
  readonly warnings: readonly string[];
  /** Source queue name → its URL at the target (empty on a dry run). */
  readonly queueUrls: ReadonlyMap<string, string>;
  /** The source's queues as described (job queues and their DLQs). */
  readonly queues: readonly QueueDescription[];
  readonly seconds: number;
}

/** What the target recorded about the source version it holds (from its own metadata). */
function recorded(meta: Readonly<Record<string, string>>, size: number) {
  const etag = meta['flotilla-source-etag'];
  const mtime = Number(meta['flotilla-source-mtime']);
  return { size, ...(etag ? { etag } : {}), ...(Number.isFinite(mtime) ? { lastModifiedMs: mtime } : {}) };
}

export async function mirrorDeployment(opts: MirrorOptions): Promise<MirrorResult> {
  const started = Date.now();
  if (!opts.bucket && !opts.queueUrl) {
    throw new UsageError('nothing to mirror: pass --stack NAME, or --bucket and/or --queue-url');
  }
  const warnings: string[] = [];
  let queueUrls: ReadonlyMap<string, string> = new Map();
  const queues = await describeQueues(opts.source, opts.queueUrl, opts.dlqUrl, opts.queues);
  const bucketSettings = opts.bucket ? await describeBucket(opts.source, opts.bucket) : undefined;
  const targetName = opts.targetBucket ?? opts.bucket;
  if (!opts.dryRun) {
    const applied = await applyQueues(opts.target, queues);
    warnings.push(...applied.warnings);
    queueUrls = applied.urls;
    if (bucketSettings && targetName)
      warnings.push(...(await applyBucket(opts.target, bucketSettings, targetName)));
  }
  const done = (r?: SyncResult<Listed>): MirrorResult => ({
    plan: r?.plan ?? [],
    copied: r?.transferred ?? 0,
    copiedBytes: r?.transferredBytes ?? 0,
    skipped: r?.skipped ?? 0,
    deleted: r?.deleted ?? 0,
    ...(r?.deleteRefused ? { deleteRefused: r.deleteRefused } : {}),
    failed: r?.failed ?? [],
    warnings,
    queueUrls,
    queues,
    seconds: (Date.now() - started) / 1000,
  });
  if (!opts.bucket || !targetName) return done();

  const reader = await objectReader(opts.source.s3, opts.bucket);
  try {
    const dst = new S3Store(opts.target.s3, targetName);
    const source = opts.sourceListing ?? sortByKey(await collect(reader.list()));
    const r = await syncObjects(
      {
        source,
        dest: await targetListing(opts.target, targetName, opts.dryRun ?? false),
        // Listing could not settle these: read the source version the target recorded.
        decide: (s, d) => (sameByListing(s, d) ? 'same' : 'check'),
        check: async (s, d) => {
          const head = await dst.head(d.key);
          return head !== undefined && !needsTransfer(s, recorded(head.metadata, head.size));
        },
        transfer: (s, onBytes) => copyObject(reader, dst, s, opts.multipartBytes ?? 8 * MiB, onBytes),
        remove: (gone) => dst.deleteMany(gone.map((d) => d.key)),
      },
      {
        label: `mirror ${opts.bucket} → ${targetName}`,
        concurrency: opts.concurrency ?? 32,
        delete: opts.delete ?? false,
        ...(opts.maxDelete !== undefined ? { maxDelete: opts.maxDelete } : {}),
        dryRun: opts.dryRun ?? false,
        progress: opts.progress,
        quiet: opts.quiet ?? false,
      },
    );
    if (opts.dryRun) {
      printPlan(r.plan, opts.out);
      if (!opts.delete && r.gone.length > 0)
        opts.out.write(`# ${r.gone.length} object(s) only at the target are kept (no --delete)\n`);
    }
    return done(r);
  } finally {
    reader.close();
  }
}

/** One object from the source to the target, marked with the source version it came from. */
export async function copyObject(
  reader: ObjectReader,
  dst: S3Store,
  s: Listed,
  multipartBytes: number,
  onBytes: (n: number) => void,
): Promise<number> {
  const { body, head } = await reader.read(s.key);
  const marks: Record<string, string> = {
    'flotilla-source-etag': normalizeEtag(head.etag),
    'flotilla-source-mtime': String(head.etag === s.etag ? s.lastModifiedMs : head.lastModifiedMs),
  };
  const put = {
    ...(head.contentType ? { contentType: head.contentType } : {}),
    ...headersOf(head),
  };
  if (head.size < multipartBytes) {
    const buf = await body.bytes();
    onBytes(buf.length);
    marks['flotilla-sha256'] = createHash('sha256').update(buf).digest('hex');
    await dst.put(s.key, buf, { ...put, metadata: { ...head.metadata, ...marks } });
  } else {
    await dst.upload(s.key, bodyStream(body, onBytes), {
      ...put,
      metadata: { ...head.metadata, ...marks },
      partSizeBytes: multipartBytes,
    });
  }
  return head.size;
}
