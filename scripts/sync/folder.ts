/**
 * The export folder: its layout, the description (flotilla.json), the manifest, SHA256SUMS, and
 * writing them so that nothing half-written is ever taken for finished (temp file + rename; the
 * description says in-progress until every object file is in place).
 *
 *   DIR/flotilla.json                     description: format, source, time, state, stacks,
 *                                         queues, buckets (written last; state "complete")
 *   DIR/manifest.jsonl                    one line per object: bucket, key, path, size, sha256,
 *                                         etag, lastModified, contentType, metadata, ...
 *   DIR/SHA256SUMS                        `sha256sum -c SHA256SUMS` from inside DIR
 *   DIR/objects/<bucket>/<key>            the objects, as plain files (see keys.ts)
 *   DIR/escaped/<bucket>/<sha256 of key>  objects whose key cannot be a plain path
 *   DIR/queues/<queue>/messages.jsonl     --include-dlq: the DLQ's messages (not removed)
 *   DIR/stacks/<stack>.template.json      the CloudFormation templates, when the source is a stack
 */

import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { compareKeys } from './keys.js';
import { sortByKey } from './plan.js';

export const FORMAT_VERSION = 1;
export const DESCRIPTION_FILE = 'flotilla.json';
export const MANIFEST_FILE = 'manifest.jsonl';
export const SUMS_FILE = 'SHA256SUMS';
export const JOURNAL_FILE = '.flotilla-journal.jsonl';
export const TMP_DIR = '.flotilla-tmp';

export interface QueueDescription {
  readonly name: string;
  readonly url: string;
  readonly role: 'jobs' | 'dlq' | 'other';
  /** The deployment's name for the job queue this is (or whose DLQ this is): 'urgent', 'default'... @default 'default' */
  readonly jobQueue?: string;
  /** Every attribute GetQueueAttributes(All) returned, RedrivePolicy included. */
  readonly attributes: Record<string, string>;
  /** Set when --include-dlq saved its messages: path relative to DIR and how many. */
  readonly messages?: { readonly path: string; readonly count: number };
}

export interface BucketDescription {
  readonly name: string;
  /** 'Enabled' | 'Suspended' | undefined (never enabled, or the endpoint has no versioning). */
  readonly versioning?: string;
  readonly lifecycleRules?: unknown[];
  readonly encryption?: unknown;
  readonly tags?: Record<string, string>;
  readonly objects: number;
  readonly bytes: number;
  /** Settings the source would not report (e.g. an emulator without the API), by name. */
  readonly unavailable?: string[];
}

export interface Description {
  readonly formatVersion: number;
  readonly tool: string;
  /** 'in-progress' while an export writes; 'complete' once every file and checksum is in place. */
  readonly state: 'in-progress' | 'complete';
  readonly createdAt: string;
  readonly source: {
    readonly account?: string;
    readonly region?: string;
    readonly endpoint?: string;
    readonly stack?: string;
  };
  readonly stacks: { readonly name: string; readonly template: unknown; readonly path: string }[];
  readonly queues: QueueDescription[];
  readonly buckets: BucketDescription[];
}

export interface ManifestEntry {
  readonly bucket: string;
  readonly key: string;
  /** Relative to DIR, '/'-separated. */
  readonly path: string;
  readonly size: number;
  /** SHA-256 of the content, hex, computed by Flotilla while writing the file. */
  readonly sha256: string;
  /** The source's ETag: recorded, compared for equality, never read as an MD5. */
  readonly etag: string;
  /** The source's LastModified (ISO 8601); also set as the file's mtime. */
  readonly lastModified: string;
  readonly contentType?: string;
  readonly metadata: Record<string, string>;
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
}

export const entryId = (bucket: string, key: string) => `${bucket}\u0000${key}`;

/** Join a manifest path onto DIR, refusing anything that would leave it (a tampered manifest). */
export function resolveInside(dir: string, relPath: string): string {
  const full = join(dir, ...relPath.split('/'));
  if (relPath.split('/').some((s) => s === '..' || s === '') || !full.startsWith(dir + sep)) {
    throw new UsageError(`manifest path '${relPath}' points outside the export folder; refusing it`);
  }
  return full;
}

/** Read flotilla.json; undefined when absent. Refuses a newer format with one clear line. */
export async function readDescription(dir: string): Promise<Description | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, DESCRIPTION_FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM')
      throw new UsageError(`cannot read ${join(dir, DESCRIPTION_FILE)}: permission denied`);
    if (code === 'ENOTDIR') throw new UsageError(`'${dir}' is not a folder`);
    throw err;
  }
  let d: Description;
  try {
    d = JSON.parse(text) as Description;
  } catch {
    throw new UsageError(`${join(dir, DESCRIPTION_FILE)} is not valid JSON; is this a Flotilla export?`);
  }
  if (typeof d.formatVersion !== 'number') {
    throw new UsageError(`${join(dir, DESCRIPTION_FILE)} has no formatVersion; is this a Flotilla export?`);
  }
  if (d.formatVersion > FORMAT_VERSION) {
    throw new UsageError(
      `${dir} was written in export format ${d.formatVersion}; this Flotilla reads up to format ${FORMAT_VERSION}: upgrade Flotilla`,
    );
  }
  return d;
}

/** A finished export, or one clear line saying why not. */
export async function requireCompleteExport(dir: string): Promise<Description> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new UsageError(`'${dir}' is not a folder`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `export folder '${dir}' does not exist` : `cannot read '${dir}': ${code ?? err}`,
    );
  }
  const d = await readDescription(dir);
  if (!d) throw new UsageError(`'${dir}' has no ${DESCRIPTION_FILE}; it is not a Flotilla export`);
  if (d.state !== 'complete') {
    throw new UsageError(
      `the export in '${dir}' did not finish (state '${d.state}'); run 'flotilla export --to ${dir}' again to complete it`,
    );
  }
  return d;
}

export async function readManifest(dir: string, file = MANIFEST_FILE): Promise<ManifestEntry[]> {
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ManifestEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as ManifestEntry);
    } catch {
      // A journal's last line may be cut short by a kill; a manifest's never is.
      if (file === JOURNAL_FILE && i >= lines.length - 2) continue;
      throw new UsageError(`${join(dir, file)} line ${i + 1} is not valid JSON`);
    }
  }
  return out;
}

/** Write a file whole or not at all: temp file in DIR's temp folder, then rename. */
export async function writeAtomic(dir: string, relPath: string, data: string | Buffer): Promise<void> {
  const tmp = await tempPath(dir);
  await writeFile(tmp, data);
  const dest = join(dir, ...relPath.split('/'));
  await mkdir(dirname(dest), { recursive: true });
  await rename(tmp, dest);
}

const madeTemp = new Set<string>();
const RUN_ID = `${process.pid}-${randomBytes(4).toString('hex')}`;
let tempCount = 0;

export async function tempPath(dir: string): Promise<string> {
  const tmpDir = join(dir, TMP_DIR);
  if (!madeTemp.has(tmpDir)) {
    await mkdir(tmpDir, { recursive: true });
    madeTemp.add(tmpDir);
  }
  return join(tmpDir, `${RUN_ID}-${++tempCount}`);
}

/**
 * Where an object's bytes are written before they are renamed to `dest`: a hidden file beside it.
 * A rename within one folder is cheap; across folders the file system serialises it, and creating
 * every file in one shared temp folder makes all writers queue on that folder's lock.
 */
export function partialPath(dest: string): string {
  return join(dirname(dest), `${PARTIAL_PREFIX}${RUN_ID}-${++tempCount}`);
}

export const PARTIAL_PREFIX = '.flotilla-partial-';
const PARTIAL_NAME = /^\.flotilla-partial-\d+-[0-9a-f]{8}-\d+$/;

/**
 * Remove the partial files an interrupted run left under `roots` (folders relative to `dir`),
 * sparing any file that is some object's own path (`keep`, relative to `dir`).
 */
export async function sweepPartials(
  dir: string,
  roots: readonly string[],
  keep: ReadonlySet<string>,
): Promise<number> {
  let removed = 0;
  for (const root of roots) {
    let entries: Dirent[];
    try {
      entries = await readdir(join(dir, root), { recursive: true, withFileTypes: true });
    } catch {
      continue; // not there yet
    }
    for (const e of entries) {
      if (!e.isFile() || !PARTIAL_NAME.test(e.name)) continue;
      const full = join(e.parentPath, e.name);
      if (keep.has(relative(dir, full).split(sep).join('/'))) continue;
      await rm(full, { force: true });
      removed++;
    }
  }
  return removed;
}

export async function clearTemp(dir: string): Promise<void> {
  madeTemp.delete(join(dir, TMP_DIR));
  await rm(join(dir, TMP_DIR), { recursive: true, force: true });
}

export function sumsText(entries: readonly ManifestEntry[]): string {
  return entries.map((e) => `${e.sha256}  ${e.path}\n`).join('');
}

export function manifestText(entries: readonly ManifestEntry[]): string {
  return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** SHA-256 (hex) of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * What the folder holds (the last manifest, then whatever an interrupted run finished), and the
 * journal that records each file as it lands: appended synchronously, one line per file, a cheap
 * syscall and exact on kill -9.
 */
export class FolderEntries {
  readonly known = new Map<string, ManifestEntry>();
  private journal: number | undefined;

  constructor(
    dir: string,
    manifest: readonly ManifestEntry[],
    journaled: readonly ManifestEntry[],
    opts: { journal: boolean },
  ) {
    for (const e of [...manifest, ...journaled]) this.known.set(entryId(e.bucket, e.key), e);
    if (opts.journal) this.journal = openSync(join(dir, JOURNAL_FILE), 'a');
  }

  has(bucket: string, key: string): boolean {
    return this.known.has(entryId(bucket, key));
  }

  record(e: ManifestEntry): void {
    this.known.set(entryId(e.bucket, e.key), e);
    if (this.journal !== undefined) writeSync(this.journal, `${JSON.stringify(e)}\n`);
  }

  forget(bucket: string, key: string): void {
    this.known.delete(entryId(bucket, key));
  }

  /** One bucket's entries, in no order. */
  of(bucket: string): ManifestEntry[] {
    return [...this.known.values()].filter((e) => e.bucket === bucket);
  }

  /** One bucket's entries, sorted by key; or every entry, by bucket then key. */
  sorted(bucket?: string): ManifestEntry[] {
    const all = [...this.known.values()];
    if (bucket !== undefined) return sortByKey(all.filter((e) => e.bucket === bucket));
    return all.sort((a, b) =>
      a.bucket === b.bucket ? compareKeys(a.key, b.key) : a.bucket < b.bucket ? -1 : 1,
    );
  }

  close(): void {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
  }
}
