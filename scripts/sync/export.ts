/**
 * Export: a live deployment → a folder. list (source) + manifest (folder) → march → needsTransfer
 * → bounded pools for checking and transfer. Incremental (unchanged objects are decided from the
 * listing, the manifest and a stat), resumable (a journal line per finished file), and the folder
 * says "complete" only once every file and checksum is in place.
 */
import { closeSync, constants, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { access, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SqsQueue } from '../../core/adapters/sqs-queue.js';
import { UsageError } from '../../core/errors.js';
import { accountOf, describeBucket, describeQueues, type LiveSide, stackTemplate } from './describe.js';
import { FileWriter } from './file-writer.js';
import {
  type BucketDescription,
  clearTemp,
  DESCRIPTION_FILE,
  type Description,
  entryId,
  FORMAT_VERSION,
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
import { compareKeys, ESCAPED_DIR, layoutKeys, OBJECTS_DIR } from './keys.js';
import { type ObjectReader, objectReader } from './object-reader.js';
import { type Listed, march, needsTransfer, sortByKey } from './plan.js';
import { collect, type PoolFailure, runPool } from './pool.js';
import { Progress } from './progress.js';
import { type DownloadOptions, fetchIntoFolder, placeFile } from './transfer.js';

export const TOOL = 'flotilla 0.1.0';

export interface ExportOptions extends DownloadOptions {
  readonly source: LiveSide;
  readonly dir: string;
  readonly bucket?: string;
  readonly queueUrl?: string;
  readonly dlqUrl?: string;
  readonly stack?: string;
  /** Save the DLQ's messages (read, then made visible again). @default false */
  readonly includeDlq?: boolean;
  /** Re-hash every local file instead of trusting size + mtime against the manifest. @default false */
  readonly checksum?: boolean;
  /** Remove files of objects no longer at the source (only when nothing failed). @default false */
  readonly delete?: boolean;
  /** Objects in flight at once. @default 32 */
  readonly concurrency?: number;
  readonly progress: NodeJS.WritableStream;
  /** @default false */
  readonly quiet?: boolean;
}

export interface ExportResult {
  readonly objects: number;
  readonly bytes: number;
  readonly transferred: number;
  readonly transferredBytes: number;
  readonly skipped: number;
  readonly relocated: number;
  readonly deleted: number;
  readonly kept: number;
  readonly dlqMessages: number;
  readonly failed: readonly { key: string; error: unknown }[];
  readonly seconds: number;
  readonly warnings: readonly string[];
}

async function prepareDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK | constants.R_OK | constants.X_OK);
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

export async function exportDeployment(opts: ExportOptions): Promise<ExportResult> {
  const started = Date.now();
  const { dir, source } = opts;
  if (!opts.bucket && !opts.queueUrl && !opts.dlqUrl) {
    throw new UsageError('nothing to export: pass --stack NAME, or --bucket and/or --queue-url');
  }
  await prepareDir(dir);
  await readDescription(dir); // refuses a folder from a newer format before anything is touched

  // The listing and the folder's manifest are read-only: start them now.
  const reader = opts.bucket ? objectReader(source.s3, opts.bucket) : undefined;
  const listing = reader ? reader.then((r) => collect(r.list())) : Promise.resolve([]);
  listing.catch(() => {});
  const manifests = Promise.all([readManifest(dir), readManifest(dir, JOURNAL_FILE)]);
  manifests.catch(() => {});

  // Describe the source first: a wrong endpoint or a missing bucket stops here, folder untouched.
  const queues = await describeQueues(source, opts.queueUrl, opts.dlqUrl);
  let bucketSettings: ReturnType<typeof describeBucket> | undefined;
  if (opts.bucket) {
    const bucket = opts.bucket;
    try {
      await listing;
    } catch (err) {
      await describeBucket(source, bucket); // says more of a missing bucket than the listing
      throw err;
    }
    // The bucket's settings (four small requests on S3) are read while the folder is brought up
    // to date, not beside the listing: an endpoint that answers each with the bucket's whole
    // listing, as fauxqs does, would slow the listing down. An unreadable setting is recorded as
    // such, not fatal; an endpoint or credentials failure would have failed the listing.
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
  const inProgress: Description = { ...base, state: 'in-progress', queues, buckets: [] };
  await writeAtomic(dir, DESCRIPTION_FILE, `${JSON.stringify(inProgress, null, 2)}\n`);
  await clearTemp(dir);

  // What the folder already holds: the last manifest, then whatever an interrupted run finished.
  const known = new Map<string, ManifestEntry>();
  const [manifest, journaled] = await manifests;
  for (const e of manifest) known.set(entryId(e.bucket, e.key), e);
  // A journal left behind means a run was interrupted: it may have left partial files too.
  const interrupted = existsSync(join(dir, JOURNAL_FILE));
  for (const e of journaled) known.set(entryId(e.bucket, e.key), e);

  const warnings: string[] = [];
  const failed: PoolFailure<string>[] = [];
  let transferred = 0;
  let transferredBytes = 0;
  let skipped = 0;
  let relocated = 0;
  let deleted = 0;
  let kept = 0;
  // Appended synchronously, one line per finished file: a cheap syscall, and exact on kill -9.
  const journal = openSync(join(dir, JOURNAL_FILE), 'a');
  let journalOpen = true;
  const closeJournal = () => {
    if (journalOpen) closeSync(journal);
    journalOpen = false;
  };
  const record = (e: ManifestEntry) => {
    known.set(entryId(e.bucket, e.key), e);
    writeSync(journal, `${JSON.stringify(e)}\n`);
  };

  let bucketDesc: BucketDescription | undefined;
  try {
    if (opts.bucket && bucketSettings) {
      const bucket = opts.bucket;
      const listed: Listed[] = sortByKey(await listing);
      const store = await (reader as Promise<ObjectReader>);
      const previous = sortByKey([...known.values()].filter((e) => e.bucket === bucket));
      const layout = layoutKeys(bucket, [...listed.map((o) => o.key), ...previous.map((e) => e.key)]);

      if (interrupted) {
        await sweepPartials(
          dir,
          [`${OBJECTS_DIR}/${bucket}`, `${ESCAPED_DIR}/${bucket}`],
          new Set(layout.values()),
        );
      }

      // Keys whose place changed (a new key made an old one clash): move their files, not refetch.
      const moving = previous.filter((e) => layout.get(e.key) !== e.path);
      const staged: { e: ManifestEntry; tmp: string }[] = [];
      for (const e of moving) {
        const tmp = await tempPath(dir);
        try {
          await rename(resolveInside(dir, e.path), tmp);
          staged.push({ e, tmp });
        } catch {
          known.delete(entryId(bucket, e.key));
        }
      }
      for (const { e, tmp } of staged) {
        const path = layout.get(e.key) ?? e.path;
        const dest = resolveInside(dir, path);
        await mkdir(dirname(dest), { recursive: true });
        placeFile(tmp, dest, Date.parse(e.lastModified));
        record({ ...e, path });
        relocated++;
      }

      // Decide. Matched pairs are checked by a stat (or a hash with --checksum) in a pool.
      const prevNow = sortByKey([...known.values()].filter((e) => e.bucket === bucket));
      const toFetch: Listed[] = [];
      const toCheck: { src: Listed; dst: ManifestEntry }[] = [];
      const gone: ManifestEntry[] = [];
      for (const pair of march(listed, prevNow)) {
        if (pair.kind === 'source-only') toFetch.push(pair.src);
        else if (pair.kind === 'dest-only') gone.push(pair.dst);
        else if (needsTransfer(pair.src, { ...pair.dst, lastModifiedMs: Date.parse(pair.dst.lastModified) }))
          toFetch.push(pair.src);
        else toCheck.push({ src: pair.src, dst: pair.dst });
      }
      const checkFailures = await runPool(toCheck, 64, async ({ src, dst }) => {
        let ok = false;
        try {
          const path = resolveInside(dir, dst.path);
          // A stat of a file just listed is a few microseconds: cheaper on this thread than a
          // round trip through the thread pool.
          const s = statSync(path, { throwIfNoEntry: false });
          ok =
            s?.isFile() === true &&
            s.size === dst.size &&
            Math.abs(s.mtimeMs - Date.parse(dst.lastModified)) < 1 &&
            (!opts.checksum || (await hashFile(path)) === dst.sha256);
        } catch {
          ok = false;
        }
        if (ok) skipped++;
        else toFetch.push(src);
      });
      for (const f of checkFailures) failed.push({ item: f.item.src.key, error: f.error });

      // Transfer.
      sortByKey(toFetch);
      const totalBytes = toFetch.reduce((n, o) => n + o.size, 0);
      const progress = new Progress({
        label: `export ${bucket}`,
        totalObjects: toFetch.length,
        totalBytes,
        stream: opts.progress,
        quiet: opts.quiet ?? false,
      });
      // The files are written on a thread of their own (none when there is nothing to fetch);
      // the network stays on this one.
      const writer = toFetch.length > 0 ? new FileWriter() : undefined;
      let fetchFailures: PoolFailure<Listed>[] = [];
      try {
        if (writer)
          fetchFailures = await runPool(toFetch, opts.concurrency ?? 32, async (src) => {
            const path = layout.get(src.key);
            if (!path) throw new Error(`no path for ${src.key}`);
            // An older copy is kept whole until its replacement is complete.
            const replaces = known.has(entryId(bucket, src.key));
            const got = await fetchIntoFolder(store, writer, dir, path, src, {
              ...opts,
              replaces,
              onBytes: (n) => progress.addBytes(n),
            });
            const { lastModifiedMs, ...rest } = got;
            record({
              bucket,
              key: src.key,
              path,
              ...rest,
              lastModified: new Date(lastModifiedMs).toISOString(),
            });
            transferred++;
            transferredBytes += got.size;
            progress.objectDone();
          });
      } finally {
        await writer?.close();
      }
      progress.finish();
      for (const f of fetchFailures) failed.push({ item: f.item.key, error: f.error });

      // Objects gone from the source: kept unless --delete, and never deleted after an error.
      if (opts.delete && failed.length === 0) {
        for (const e of gone) {
          await rm(resolveInside(dir, e.path), { force: true });
          await pruneEmptyParents(dir, e.path);
          known.delete(entryId(bucket, e.key));
          deleted++;
        }
      } else if (opts.delete && gone.length > 0) {
        warnings.push(`${gone.length} object(s) gone from the source were kept: this run had errors`);
      }
      const mine = [...known.values()].filter((e) => e.bucket === bucket);
      bucketDesc = {
        ...(await bucketSettings),
        objects: mine.length,
        bytes: mine.reduce((n, e) => n + e.size, 0),
      };
      kept = opts.delete && failed.length === 0 ? 0 : gone.length;
    }

    let dlqMessages = 0;
    const queuesOut: QueueDescription[] = [];
    for (const q of queues) {
      if (opts.includeDlq && q.role === 'dlq') {
        const messages = await readDlqMessages(source, q);
        const path = `queues/${q.name}/messages.jsonl`;
        await writeAtomic(dir, path, messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
        queuesOut.push({ ...q, messages: { path, count: messages.length } });
        dlqMessages += messages.length;
      } else queuesOut.push(q);
    }
    for (const s of stacks) await writeAtomic(dir, s.path, `${JSON.stringify(s.template, null, 2)}\n`);

    const entries = [...known.values()].sort((a, b) =>
      a.bucket === b.bucket ? compareKeys(a.key, b.key) : a.bucket < b.bucket ? -1 : 1,
    );
    if (failed.length === 0) {
      // Nothing fetched, moved or removed since a complete manifest: it still holds, so an
      // unchanged re-run writes only the description (as rclone writes nothing).
      const same =
        transferred + relocated + deleted === 0 &&
        !interrupted &&
        existsSync(join(dir, MANIFEST_FILE)) &&
        existsSync(join(dir, SUMS_FILE));
      if (!same) {
        await writeAtomic(dir, MANIFEST_FILE, manifestText(entries));
        await writeAtomic(dir, SUMS_FILE, sumsText(entries));
      }
      const done: Description = {
        ...base,
        state: 'complete',
        queues: queuesOut,
        buckets: bucketDesc ? [bucketDesc] : [],
      };
      await writeAtomic(dir, DESCRIPTION_FILE, `${JSON.stringify(done, null, 2)}\n`);
      closeJournal();
      await rm(join(dir, JOURNAL_FILE), { force: true });
      await clearTemp(dir);
    }
    return {
      objects: entries.filter((e) => e.bucket === opts.bucket).length,
      bytes: entries.filter((e) => e.bucket === opts.bucket).reduce((n, e) => n + e.size, 0),
      transferred,
      transferredBytes,
      skipped,
      relocated,
      deleted,
      kept,
      dlqMessages,
      failed: failed.map((f) => ({ key: f.item, error: f.error })),
      seconds: (Date.now() - started) / 1000,
      warnings,
    };
  } finally {
    closeJournal();
    if (reader)
      void reader.then(
        (r) => r.close(),
        () => {},
      );
  }
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
