/**
 * Export: a live deployment → a folder, in the shape of engine.ts: the bucket's listing and the
 * folder's manifest → needsTransfer, then a stat of each unchanged file → fetches into the folder.
 * Incremental (unchanged objects are decided from the listing, the manifest and a stat),
 * resumable (a journal line per finished file), and the folder says "complete" only once every
 * file and checksum is in place.
 */

import { constants, existsSync, statSync } from 'node:fs';
import { access, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { UsageError } from '../../core/errors.js';
import type { NamedQueue } from '../../core/queue-list.js';
import { accountOf, describeBucket, describeQueues, type LiveSide, stackTemplate } from './describe.js';
import {
  type PlanItem,
  printPlan,
  type SyncFailure,
  type SyncReporting,
  syncObjects,
  type Verdict,
} from './engine.js';
import { FileWriter } from './file-writer.js';
import {
  type BucketDescription,
  clearTemp,
  DESCRIPTION_FILE,
  type Description,
  FORMAT_VERSION,
  FolderEntries,
  hashFile,
  JOURNAL_FILE,
  MANIFEST_FILE,
  type ManifestEntry,
  manifestText,
  type QueueDescription,
  readDescription,
  readManifest,
  resolveInside,
  SUMS_FILE,
  sumsText,
  sweepPartials,
  tempPath,
  writeAtomic,
} from './folder.js';
import { ESCAPED_DIR, layoutKeys, OBJECTS_DIR } from './keys.js';
import { type ObjectReader, objectReader } from './object-reader.js';
import { type Listed, needsTransfer, sortByKey } from './plan.js';
import { collect } from './pool.js';
import { type DownloadOptions, fetchIntoFolder, placeFile } from './transfer.js';

export const TOOL = 'flotilla 0.1.0';

/** With `dryRun`, the folder is read and never written. */
export interface ExportOptions extends DownloadOptions, SyncReporting {
  readonly source: LiveSide;
  readonly dir: string;
  readonly bucket?: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  /** Every job queue by name. @default - `queueUrl` and the queues found beside it by name */
  readonly queues?: readonly NamedQueue[];
  readonly stack?: string;
  /** Save the DLQ's messages (read, then made visible again). @default false */
  readonly includeDlq?: boolean;
  /** Re-hash every local file instead of trusting size + mtime against the manifest. @default false */
  readonly checksum?: boolean;
  /** Remove files of objects no longer at the source (only when nothing failed). @default false */
  readonly delete?: boolean;
  /** Objects in flight at once. @default 32 */
  readonly concurrency?: number;
}

export interface ExportResult {
  /** The fetches (copy, update) and, with --delete, removals planned. */
  readonly plan: readonly PlanItem[];
  readonly objects: number;
  readonly bytes: number;
  readonly transferred: number;
  readonly transferredBytes: number;
  readonly skipped: number;
  readonly relocated: number;
  readonly deleted: number;
  readonly kept: number;
  readonly dlqMessages: number;
  readonly failed: readonly SyncFailure[];
  readonly seconds: number;
  readonly warnings: readonly string[];
}

/** Make DIR (unless `dryRun`: a missing DIR is then an empty one) and refuse one that is not ours. */
async function prepareDir(dir: string, dryRun: boolean): Promise<void> {
  try {
    if (dryRun && !existsSync(dir)) return;
    if (!dryRun) await mkdir(dir, { recursive: true });
    await access(dir, constants.R_OK | constants.X_OK | (dryRun ? 0 : constants.W_OK));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'EACCES' || code === 'EPERM'
        ? `cannot write to '${dir}': permission denied`
        : code === 'EEXIST' || code === 'ENOTDIR'
          ? `'${dir}' is not a folder`
          : `cannot use '${dir}' (${code ?? String(err)})`,
    );
  }
  const names = await readdir(dir);
  const ours = names.includes(DESCRIPTION_FILE) || names.includes(JOURNAL_FILE);
  if (names.length > 0 && !ours) {
    throw new UsageError(`'${dir}' is not empty and holds no Flotilla export; choose an empty or new folder`);
  }
}

/** Read the DLQ's messages without removing them: receive them all hidden, then unhide them. */
async function readDlqMessages(side: LiveSide, q: QueueDescription) {
  const queue = new SqsQueue(side.sqs, q.url);
  const expected = Number(q.attributes.ApproximateNumberOfMessages ?? '0');
  const seen = new Map<string, Awaited<ReturnType<SqsQueue['receive']>>[number]>();
  const handles: string[] = [];
  let empty = 0;
  while (empty < (seen.size >= expected ? 1 : 3)) {
    const msgs = await queue.receive({ maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 300 });
    const fresh = msgs.filter((m) => !seen.has(m.messageId));
    for (const m of msgs) handles.push(m.receiptHandle);
    // Nothing new (an empty receive, or one that handed back a message already seen): done soon.
    if (fresh.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    for (const m of fresh) seen.set(m.messageId, m);
  }
  for (let i = 0; i < handles.length; i += 10) {
    await queue.changeVisibilityBatch(
      handles.slice(i, i + 10).map((h, j) => ({ id: String(j), receiptHandle: h, seconds: 0 })),
    );
  }
  return [...seen.values()].map((m) => ({
    messageId: m.messageId,
    body: m.body,
    attributes: m.attributes,
    receiveCount: m.receiveCount,
    sentAt: new Date(m.sentAtMs).toISOString(),
  }));
}

interface BucketRun {
  readonly dir: string;
  readonly bucket: string;
  readonly reader: ObjectReader;
  readonly listing: Listed[];
  readonly folder: FolderEntries;
  readonly interrupted: boolean;
}

/**
 * Keys whose place changed (a new key made an old one clash): move their files rather than fetch
 * them again. Two steps, through the temp folder, as one key's new place may be another's old one.
 */
async function relocate(run: BucketRun, layout: ReadonlyMap<string, string>): Promise<number> {
  const { dir, bucket, folder } = run;
  const staged: { e: ManifestEntry; tmp: string }[] = [];
  for (const e of folder.of(bucket)) {
    if (layout.get(e.key) === e.path) continue;
    const tmp = await tempPath(dir);
    try {
      await rename(resolveInside(dir, e.path), tmp);
      staged.push({ e, tmp });
    } catch {
      folder.forget(bucket, e.key);
    }
  }
  for (const { e, tmp } of staged) {
    const path = layout.get(e.key) ?? e.path;
    const dest = resolveInside(dir, path);
    await mkdir(dirname(dest), { recursive: true });
    placeFile(tmp, dest, Date.parse(e.lastModified));
    folder.record({ ...e, path });
  }
  return staged.length;
}

/** Does the file still hold what the manifest says? A stat (and with --checksum, a hash). */
async function fileHolds(dir: string, e: ManifestEntry, checksum: boolean): Promise<boolean> {
  try {
    const path = resolveInside(dir, e.path);
    // A stat of a file just listed is a few microseconds: cheaper on this thread than a round trip
    // through the thread pool.
    const s = statSync(path, { throwIfNoEntry: false });
    return (
      s?.isFile() === true &&
      s.size === e.size &&
      Math.abs(s.mtimeMs - Date.parse(e.lastModified)) < 1 &&
      (!checksum || (await hashFile(path)) === e.sha256)
    );
  } catch {
    return false;
  }
}

/** The rule for a manifest entry whose file is in the folder: changed at the source, or check the file. */
const decide = (src: Listed, e: ManifestEntry): Verdict =>
  needsTransfer(src, { ...e, lastModifiedMs: Date.parse(e.lastModified) }) ? 'transfer' : 'check';

/** The bucket's objects into the folder: plan → transfer → finish (engine.ts). */
async function exportObjects(run: BucketRun, opts: ExportOptions) {
  const { dir, bucket, reader, listing, folder } = run;
  const layout = layoutKeys(bucket, [...listing.map((o) => o.key), ...folder.of(bucket).map((e) => e.key)]);
  // A dry run moves nothing: it counts the files that would move, and plans.
  const dryRun = opts.dryRun ?? false;
  if (run.interrupted && !dryRun) {
    await sweepPartials(
      dir,
      [`${OBJECTS_DIR}/${bucket}`, `${ESCAPED_DIR}/${bucket}`],
      new Set(layout.values()),
    );
  }
  const relocated = dryRun
    ? folder.of(bucket).filter((e) => layout.get(e.key) !== e.path).length
    : await relocate(run, layout);
  // The files are written on a thread of their own (started with the first fetch); the network
  // stays on this one.
  let writer: FileWriter | undefined;
  try {
    const r = await syncObjects(
      {
        source: listing,
        dest: folder.sorted(bucket),
        // Matched pairs that recorded the same source version are checked by a stat of the file.
        decide,
        check: (_, e) => fileHolds(dir, e, opts.checksum ?? false),
        transfer: async (src, onBytes) => {
          const path = layout.get(src.key);
          if (!path) throw new Error(`no path for ${src.key}`);
          writer ??= new FileWriter();
          const { lastModifiedMs, ...got } = await fetchIntoFolder(reader, writer, dir, path, src, {
            ...opts,
            // An older copy is kept whole until its replacement is complete.
            replaces: folder.has(bucket, src.key),
            onBytes,
          });
          folder.record({
            bucket,
            key: src.key,
            path,
            ...got,
            lastModified: new Date(lastModifiedMs).toISOString(),
          });
          return got.size;
        },
        remove: async (gone) => {
          for (const e of gone) {
            await rm(resolveInside(dir, e.path), { force: true });
            await pruneEmptyParents(dir, e.path);
            folder.forget(bucket, e.key);
          }
        },
      },
      {
        label: `export ${bucket}`,
        concurrency: opts.concurrency ?? 32,
        checkConcurrency: 64,
        delete: opts.delete ?? false,
        dryRun,
        progress: opts.progress,
        quiet: opts.quiet ?? false,
      },
    );
    if (dryRun && opts.out) printPlan(r.plan, opts.out);
    const removes = r.deleted > 0 || (dryRun && opts.delete);
    return { ...r, relocated, kept: removes ? 0 : r.gone.length };
  } finally {
    await writer?.close();
  }
}

export async function exportDeployment(opts: ExportOptions): Promise<ExportResult> {
  const started = Date.now();
  const { dir, source } = opts;
  if (!opts.bucket && !opts.queueUrl && !opts.dlqUrl) {
    throw new UsageError('nothing to export: pass --stack NAME, or --bucket and/or --queue-url');
  }
  await prepareDir(dir, opts.dryRun ?? false);
  await readDescription(dir); // refuses a folder from a newer format before anything is touched

  // The listing and the folder's manifest are read-only: start them now.
  const reader = opts.bucket ? objectReader(source.s3, opts.bucket) : undefined;
  const listing = reader ? reader.then((r) => collect(r.list())) : Promise.resolve([]);
  listing.catch(() => {});
  const manifests = Promise.all([readManifest(dir), readManifest(dir, JOURNAL_FILE)]);
  manifests.catch(() => {});
  try {
    return await exportInto(opts, started, reader, listing, manifests);
  } finally {
    if (reader)
      void reader.then(
        (r) => r.close(),
        () => {},
      );
  }
}

/**
 * The source's definitions, read before the folder is touched: a wrong endpoint or a missing
 * bucket stops here. The bucket's settings (four small requests on S3) are read while the folder
 * is brought up to date, not beside the listing: an endpoint that answers each with the bucket's
 * whole listing would slow the listing down. An unreadable setting is recorded as such, not
 * fatal; an endpoint or credentials failure would have failed the listing.
 */
async function describeSource(opts: ExportOptions, listing: Promise<Listed[]>, started: number) {
  const { source } = opts;
  const queues = await describeQueues(source, opts.queueUrl, opts.dlqUrl, opts.queues);
  let bucketSettings: ReturnType<typeof describeBucket> | undefined;
  if (opts.bucket) {
    const bucket = opts.bucket;
    await listing.catch(async (err) => {
      await describeBucket(source, bucket); // says more of a missing bucket than the listing
      throw err;
    });
    bucketSettings = describeBucket(source, bucket);
    bucketSettings.catch(() => {});
  }
  const stacks = opts.stack
    ? [
        {
          name: opts.stack,
          template: await stackTemplate(source, opts.stack),
          path: `stacks/${opts.stack}.template.json`,
        },
      ]
    : [];
  const { account, region } = accountOf(queues);
  const base = {
    formatVersion: FORMAT_VERSION,
    tool: TOOL,
    createdAt: new Date(started).toISOString(),
    source: {
      ...(account ? { account } : {}),
      ...((source.endpoint.region ?? region) ? { region: source.endpoint.region ?? region } : {}),
      ...(source.endpoint.endpoint ? { endpoint: source.endpoint.endpoint } : {}),
      ...(opts.stack ? { stack: opts.stack } : {}),
    },
    stacks,
  };
  return { queues, bucketSettings, stacks, base };
}

async function exportInto(
  opts: ExportOptions,
  started: number,
  reader: Promise<ObjectReader> | undefined,
  listing: Promise<Listed[]>,
  manifests: Promise<[ManifestEntry[], ManifestEntry[]]>,
): Promise<ExportResult> {
  const { dir } = opts;
  const { queues, bucketSettings, stacks, base } = await describeSource(opts, listing, started);
  const dryRun = opts.dryRun ?? false;
  if (!dryRun) {
    const inProgress: Description = { ...base, state: 'in-progress', queues, buckets: [] };
    await writeAtomic(dir, DESCRIPTION_FILE, `${JSON.stringify(inProgress, null, 2)}\n`);
    await clearTemp(dir);
  }

  // A journal left behind means a run was interrupted: it may have left partial files too.
  const interrupted = existsSync(join(dir, JOURNAL_FILE));
  const folder = new FolderEntries(dir, ...(await manifests), { journal: !dryRun });
  try {
    const warnings: string[] = [];
    let objects: Awaited<ReturnType<typeof exportObjects>> | undefined;
    let bucketDesc: BucketDescription | undefined;
    if (opts.bucket && reader && bucketSettings) {
      const bucket = opts.bucket;
      const run = {
        dir,
        bucket,
        reader: await reader,
        listing: sortByKey(await listing),
        folder,
        interrupted,
      };
      objects = await exportObjects(run, opts);
      if (objects.deleteRefused)
        warnings.push(`${objects.gone.length} object(s) gone from the source were kept: this run had errors`);
      const mine = folder.of(bucket);
      bucketDesc = {
        ...(await bucketSettings),
        objects: mine.length,
        bytes: mine.reduce((n, e) => n + e.size, 0),
      };
    }

    if (dryRun) return result(objects, bucketDesc, 0, warnings, started);
    const { queues: queuesOut, dlqMessages } = await saveQueues(opts, queues);
    for (const s of stacks) await writeAtomic(dir, s.path, `${JSON.stringify(s.template, null, 2)}\n`);

    const failed = objects?.failed ?? [];
    if (failed.length === 0) {
      const changed = (objects?.transferred ?? 0) + (objects?.relocated ?? 0) + (objects?.deleted ?? 0) > 0;
      const done: Description = {
        ...base,
        state: 'complete',
        queues: queuesOut,
        buckets: bucketDesc ? [bucketDesc] : [],
      };
      await completeFolder(dir, folder, done, changed || interrupted);
    }
    return result(objects, bucketDesc, dlqMessages, warnings, started);
  } finally {
    folder.close();
  }
}

function result(
  objects: Awaited<ReturnType<typeof exportObjects>> | undefined,
  bucket: BucketDescription | undefined,
  dlqMessages: number,
  warnings: string[],
  started: number,
): ExportResult {
  return {
    plan: objects?.plan ?? [],
    objects: bucket?.objects ?? 0,
    bytes: bucket?.bytes ?? 0,
    transferred: objects?.transferred ?? 0,
    transferredBytes: objects?.transferredBytes ?? 0,
    skipped: objects?.skipped ?? 0,
    relocated: objects?.relocated ?? 0,
    deleted: objects?.deleted ?? 0,
    kept: objects?.kept ?? 0,
    dlqMessages,
    failed: objects?.failed ?? [],
    seconds: (Date.now() - started) / 1000,
    warnings,
  };
}

/** The queues' descriptions, with the DLQ's messages saved beside them when asked. */
async function saveQueues(opts: ExportOptions, queues: readonly QueueDescription[]) {
  let dlqMessages = 0;
  const out: QueueDescription[] = [];
  for (const q of queues) {
    if (opts.includeDlq && q.role === 'dlq') {
      const messages = await readDlqMessages(opts.source, q);
      const path = `queues/${q.name}/messages.jsonl`;
      await writeAtomic(opts.dir, path, messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
      out.push({ ...q, messages: { path, count: messages.length } });
      dlqMessages += messages.length;
    } else out.push(q);
  }
  return { queues: out, dlqMessages };
}

/**
 * Finish a run with no failures: the manifest and checksums (unless nothing changed since a
 * complete pair, so an unchanged re-run writes only the description, as rclone writes nothing),
 * then the description saying "complete", then the journal and temp folder go.
 */
async function completeFolder(dir: string, folder: FolderEntries, done: Description, changed: boolean) {
  if (changed || !existsSync(join(dir, MANIFEST_FILE)) || !existsSync(join(dir, SUMS_FILE))) {
    const entries = folder.sorted();
    await writeAtomic(dir, MANIFEST_FILE, manifestText(entries));
    await writeAtomic(dir, SUMS_FILE, sumsText(entries));
  }
  await writeAtomic(dir, DESCRIPTION_FILE, `${JSON.stringify(done, null, 2)}\n`);
  folder.close();
  await rm(join(dir, JOURNAL_FILE), { force: true });
  await clearTemp(dir);
}

async function pruneEmptyParents(dir: string, relPath: string): Promise<void> {
  const segs = relPath.split('/');
  for (let n = segs.length - 1; n > 2; n--) {
    try {
      await rmdir(join(dir, ...segs.slice(0, n)));
    } catch {
      return;
    }
  }
}
