/**
 * Restore: an export folder → a live target. Queues and buckets are recreated from the
 * description through the SQS and S3 APIs (works without CloudFormation); objects are uploaded
 * under their original keys (multipart above a threshold) and each is verified after upload.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { S3Store } from '../../core/adapters/s3-store.js';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { RESENT_ATTRIBUTE } from '../../core/envelope.js';
import { UsageError } from '../../core/errors.js';
import { applyBucket, applyQueues, type LiveSide, targetListing } from './describe.js';
import { type PlanItem, printPlan, type SyncFailure, type SyncReporting, syncObjects } from './engine.js';
import {
  type Description,
  type ManifestEntry,
  readManifest,
  requireCompleteExport,
  resolveInside,
} from './folder.js';
import { isMultipartEtag, type Listed, looksLikeMd5, normalizeEtag, sortByKey } from './plan.js';
import { headersOf } from './transfer.js';

const MiB = 1024 * 1024;

export interface RestoreOptions extends SyncReporting {
  readonly target: LiveSide;
  readonly dir: string;
  /** Restore the (single) bucket under another name. @default - the exported name */
  readonly bucket?: string;
  /** Send the saved DLQ messages back into the target's DLQ. @default false */
  readonly includeDlq?: boolean;
  /** Upload as multipart at or above this size. @default 8 MiB */
  readonly multipartBytes?: number;
  /** @default 16 */
  readonly concurrency?: number;
  /** Only recreate queues and buckets (e.g. the stack already made them). @default true */
  readonly definitions?: boolean;
  /** Where queues already exist (with definitions: false): source queue name → target URL. */
  readonly queueUrls?: ReadonlyMap<string, string>;
}

export interface RestoreResult {
  /** The uploads planned, every bucket's. */
  readonly plan: readonly PlanItem[];
  readonly description: Description;
  readonly queueUrls: ReadonlyMap<string, string>;
  readonly buckets: readonly string[];
  readonly uploaded: number;
  readonly uploadedBytes: number;
  readonly skipped: number;
  readonly messages: number;
  readonly failed: readonly SyncFailure[];
  readonly warnings: readonly string[];
  readonly seconds: number;
}

/** SHA-256 of an object as the target serves it. */
export async function hashRemote(store: S3Store, key: string): Promise<{ sha256: string; size: number }> {
  const { body } = await store.read(key);
  const h = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** SHA-256 of a local file and the MD5 of each part, in one read. */
async function hashParts(path: string, partBytes: number): Promise<{ sha256: string; partMd5s: Buffer[] }> {
  const sha = createHash('sha256');
  const parts: Buffer[] = [];
  let md5 = createHash('md5');
  let inPart = 0;
  for await (const c of createReadStream(path, { highWaterMark: MiB })) {
    let chunk = c as Buffer;
    sha.update(chunk);
    while (chunk.length > 0) {
      const take = Math.min(chunk.length, partBytes - inPart);
      md5.update(chunk.subarray(0, take));
      inPart += take;
      chunk = chunk.subarray(take);
      if (inPart === partBytes) {
        parts.push(md5.digest());
        md5 = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) parts.push(md5.digest());
  return { sha256: sha.digest('hex'), partMd5s: parts };
}

/** Upload one exported file under its key, then prove the target holds the same bytes. */
export async function uploadEntry(
  store: S3Store,
  path: string,
  e: ManifestEntry,
  multipartBytes: number,
): Promise<void> {
  const s = await stat(path);
  if (s.size !== e.size) {
    throw new Error(`${e.path} is ${s.size} bytes, the manifest says ${e.size}; run 'flotilla verify'`);
  }
  const opts = {
    ...(e.contentType ? { contentType: e.contentType } : {}),
    metadata: e.metadata,
    ...headersOf(e),
  };
  let expectedEtag: string;
  if (e.size < multipartBytes) {
    const buf = await readFile(path);
    if (createHash('sha256').update(buf).digest('hex') !== e.sha256) {
      throw new Error(`${e.path} does not match its SHA-256 in the manifest; run 'flotilla verify'`);
    }
    await store.put(e.key, buf, opts);
    expectedEtag = createHash('md5').update(buf).digest('hex');
  } else {
    const { sha256, partMd5s } = await hashParts(path, multipartBytes);
    if (sha256 !== e.sha256) {
      throw new Error(`${e.path} does not match its SHA-256 in the manifest; run 'flotilla verify'`);
    }
    await store.upload(e.key, createReadStream(path), { ...opts, partSizeBytes: multipartBytes });
    expectedEtag =
      partMd5s.length > 1
        ? `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`
        : (partMd5s[0]?.toString('hex') ?? '');
  }
  // Verify: an ETag equal to the MD5 we computed of what we sent proves it; anything else
  // (SSE-KMS, another multipart scheme) is settled by reading the object back.
  const head = await store.head(e.key);
  if (!head || head.size !== e.size) {
    throw new Error(
      `after upload, ${e.key} is ${head ? `${head.size} bytes` : 'missing'} (expected ${e.size})`,
    );
  }
  if (normalizeEtag(head.etag) === expectedEtag) return;
  const back = await hashRemote(store, e.key);
  if (back.sha256 !== e.sha256) throw new Error(`after upload, ${e.key} does not match its SHA-256`);
}

/** Already at the target with the same bytes: same size and the same single-part MD5 ETag. */
const sameContent = (e: ManifestEntry, there: Listed): boolean =>
  e.size === there.size &&
  !isMultipartEtag(e.etag) &&
  looksLikeMd5(e.etag) &&
  normalizeEtag(e.etag) === normalizeEtag(there.etag);

export async function restoreDeployment(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const d = await requireCompleteExport(opts.dir);
  const manifest = await readManifest(opts.dir);
  if (opts.bucket && d.buckets.length > 1) {
    throw new UsageError(`the export holds ${d.buckets.length} buckets; --bucket can rename only one`);
  }
  const warnings: string[] = [];
  let queueUrls = new Map<string, string>(opts.queueUrls ?? []);
  if (opts.definitions !== false && !opts.dryRun) {
    const applied = await applyQueues(opts.target, d.queues);
    queueUrls = applied.urls;
    warnings.push(...applied.warnings);
    for (const b of d.buckets) warnings.push(...(await applyBucket(opts.target, b, opts.bucket ?? b.name)));
  }

  const plan: PlanItem[] = [];
  const failed: SyncFailure[] = [];
  let uploaded = 0;
  let uploadedBytes = 0;
  let skipped = 0;
  const multipartBytes = opts.multipartBytes ?? 8 * MiB;
  for (const b of d.buckets) {
    const name = opts.bucket ?? b.name;
    const store = new S3Store(opts.target.s3, name);
    const r = await syncObjects(
      {
        source: sortByKey(manifest.filter((e) => e.bucket === b.name)),
        dest: await targetListing(opts.target, name, opts.dryRun ?? false),
        decide: (e, there) => (sameContent(e, there) ? 'same' : 'transfer'),
        transfer: async (e, onBytes) => {
          await uploadEntry(store, resolveInside(opts.dir, e.path), e, multipartBytes);
          onBytes(e.size);
          return e.size;
        },
      },
      {
        label: `restore ${name}`,
        concurrency: opts.concurrency ?? 16,
        dryRun: opts.dryRun ?? false,
        progress: opts.progress,
        quiet: opts.quiet ?? false,
      },
    );
    plan.push(...r.plan);
    uploaded += r.transferred;
    uploadedBytes += r.transferredBytes;
    skipped += r.skipped;
    failed.push(...r.failed);
  }

  if (opts.dryRun && opts.out) printPlan(plan, opts.out);
  let messages = 0;
  if (opts.includeDlq && !opts.dryRun) {
    for (const q of d.queues) {
      const url = queueUrls.get(q.name);
      if (!q.messages || !url) continue;
      const text = await readFile(resolveInside(opts.dir, q.messages.path), 'utf8');
      const saved = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { body: string; attributes?: Record<string, string> });
      const queue = new SqsQueue(opts.target.sqs, url);
      for (let i = 0; i < saved.length; i += 10) {
        const batch = saved.slice(i, i + 10);
        const refused = await queue.sendBatch(
          // Marked as sent before: a job exported in flight may have its result restored too.
          batch.map((m, j) => ({
            id: String(j),
            body: m.body,
            attributes: { ...m.attributes, [RESENT_ATTRIBUTE]: '1' },
          })),
        );
        if (refused.length > 0)
          throw new Error(`${q.name}: ${refused.length} message(s) refused: ${refused[0]?.message}`);
        messages += batch.length;
      }
    }
  }
  return {
    plan,
    description: d,
    queueUrls,
    buckets: d.buckets.map((b) => opts.bucket ?? b.name),
    uploaded,
    uploadedBytes,
    skipped,
    messages,
    failed,
    warnings,
    seconds: (Date.now() - started) / 1000,
  };
}
