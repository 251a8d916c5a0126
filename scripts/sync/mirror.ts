/**
 * Mirror: a live source → a live target, incrementally. Listings of both buckets → march →
 * decide (listing shortcut, then the source version the target recorded) → bounded transfers →
 * deletes only when asked, within --max-delete, and never after an error in the same run.
 *
 * Each copied object carries the source version it came from in its metadata
 * (flotilla-source-etag, flotilla-source-mtime, and flotilla-sha256 for objects copied whole),
 * so a re-run skips unchanged objects without reading them again, whatever the ETag scheme.
 */
import { createHash } from 'node:crypto';
import { S3Store } from '../../core/adapters/s3-store.js';
import { UsageError } from '../../core/errors.js';
import { bodyStream } from '../../core/transport/body.js';
import {
  applyBucket,
  applyQueues,
  describeBucket,
  describeQueues,
  type LiveSide,
  requireBucketExists,
} from './describe.js';
import { compareKeys } from './keys.js';
import { objectReader } from './object-reader.js';
import { type Listed, march, needsTransfer, normalizeEtag, sameByListing, sortByKey } from './plan.js';
import { collect, runPool } from './pool.js';
import { Progress } from './progress.js';
import { headersOf } from './transfer.js';

export const MIRROR_KEYS = ['flotilla-source-etag', 'flotilla-source-mtime', 'flotilla-sha256'] as const;
const MiB = 1024 * 1024;

export interface MirrorOptions {
  readonly source: LiveSide;
  readonly target: LiveSide;
  readonly bucket?: string;
  /** @default - the source bucket's name */
  readonly targetBucket?: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  /** Print the plan, change nothing. @default false */
  readonly dryRun?: boolean;
  /** Delete target objects the source no longer has. @default false */
  readonly delete?: boolean;
  /** With --delete: refuse to delete more than this many (and delete none). @default - no limit */
  readonly maxDelete?: number;
  /** @default 32 */
  readonly concurrency?: number;
  /** Objects at least this big are streamed as multipart uploads. @default 8 MiB */
  readonly multipartBytes?: number;
  readonly progress: NodeJS.WritableStream;
  /** The plan (dry run) goes here. */
  readonly out: NodeJS.WritableStream;
  readonly quiet?: boolean;
}

export interface PlanItem {
  readonly action: 'copy' | 'update' | 'delete';
  readonly key: string;
  readonly size: number;
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
  const queues = await describeQueues(opts.source, opts.queueUrl, opts.dlqUrl);
  const bucketSettings = opts.bucket ? await describeBucket(opts.source, opts.bucket) : undefined;
  const targetName = opts.targetBucket ?? opts.bucket;
  if (!opts.dryRun) {
    warnings.push(...(await applyQueues(opts.target, queues)).warnings);
    if (bucketSettings && targetName)
      warnings.push(...(await applyBucket(opts.target, bucketSettings, targetName)));
  }
  const plan: PlanItem[] = [];
  const failed: { key: string; error: unknown }[] = [];
  let copied = 0;
  let copiedBytes = 0;
  let skipped = 0;
  let deleted = 0;
  let deleteRefused: string | undefined;
  if (opts.bucket && targetName) {
    const reader = await objectReader(opts.source.s3, opts.bucket);
    try {
      const dst = new S3Store(opts.target.s3, targetName);
      const srcList: Listed[] = sortByKey(await collect(reader.list()));
      let dstList: Listed[] = [];
      try {
        if (opts.dryRun) await requireBucketExists(opts.target, targetName);
        dstList = sortByKey(await collect(dst.list()));
      } catch (err) {
        if (!(opts.dryRun && err instanceof UsageError)) throw err;
      }
      const toCopy: { src: Listed; action: 'copy' | 'update' }[] = [];
      const toCheck: { src: Listed; dst: Listed }[] = [];
      const toDelete: Listed[] = [];
      for (const p of march(srcList, dstList)) {
        if (p.kind === 'source-only') toCopy.push({ src: p.src, action: 'copy' });
        else if (p.kind === 'dest-only') toDelete.push(p.dst);
        else if (sameByListing(p.src, p.dst)) skipped++;
        else toCheck.push({ src: p.src, dst: p.dst });
      }
      // Listing could not settle these: read the source version the target recorded.
      const checkFailures = await runPool(toCheck, 32, async ({ src: s, dst: d }) => {
        const head = await dst.head(d.key);
        if (head && !needsTransfer(s, recorded(head.metadata, head.size))) skipped++;
        else toCopy.push({ src: s, action: 'update' });
      });
      for (const f of checkFailures) failed.push({ key: f.item.src.key, error: f.error });
      toCopy.sort((a, b) => compareKeys(a.src.key, b.src.key));
      for (const c of toCopy) plan.push({ action: c.action, key: c.src.key, size: c.src.size });
      if (opts.delete) for (const d of toDelete) plan.push({ action: 'delete', key: d.key, size: d.size });

      if (opts.dryRun) {
        for (const p of plan)
          opts.out.write(`${p.action.padEnd(6)} ${JSON.stringify(p.key)} (${p.size} bytes)\n`);
        if (!opts.delete && toDelete.length > 0) {
          opts.out.write(`# ${toDelete.length} object(s) only at the target are kept (no --delete)\n`);
        }
      } else {
        const progress = new Progress({
          label: `mirror ${opts.bucket} → ${targetName}`,
          totalObjects: toCopy.length,
          totalBytes: toCopy.reduce((n, c) => n + c.src.size, 0),
          stream: opts.progress,
          quiet: opts.quiet ?? false,
        });
        const multipartBytes = opts.multipartBytes ?? 8 * MiB;
        const copyFailures = await runPool(toCopy, opts.concurrency ?? 32, async ({ src: s }) => {
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
            progress.addBytes(buf.length);
            marks['flotilla-sha256'] = createHash('sha256').update(buf).digest('hex');
            await dst.put(s.key, buf, { ...put, metadata: { ...head.metadata, ...marks } });
          } else {
            await dst.upload(
              s.key,
              bodyStream(body, (n) => progress.addBytes(n)),
              {
                ...put,
                metadata: { ...head.metadata, ...marks },
                partSizeBytes: multipartBytes,
              },
            );
          }
          copied++;
          copiedBytes += head.size;
          progress.objectDone();
        });
        progress.finish();
        for (const f of copyFailures) failed.push({ key: f.item.src.key, error: f.error });

        if (opts.delete && toDelete.length > 0) {
          if (failed.length > 0) {
            deleteRefused = `${toDelete.length} deletion(s) skipped: this run had ${failed.length} error(s)`;
          } else if (opts.maxDelete !== undefined && toDelete.length > opts.maxDelete) {
            deleteRefused = `${toDelete.length} deletion(s) exceed --max-delete ${opts.maxDelete}; nothing deleted`;
          } else {
            await dst.deleteMany(toDelete.map((d) => d.key));
            deleted = toDelete.length;
          }
        }
      }
    } finally {
      reader.close();
    }
  }
  return {
    plan,
    copied,
    copiedBytes,
    skipped,
    deleted,
    ...(deleteRefused ? { deleteRefused } : {}),
    failed,
    warnings,
    seconds: (Date.now() - started) / 1000,
  };
}
