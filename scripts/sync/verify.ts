/**
 * Verify: recompute SHA-256 and compare with the manifest, for the files of an export folder or
 * for the objects of a live target. Lists what is missing, changed or extra.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { S3Store } from '../../core/adapters/s3-store.js';
import { Progress } from '../progress.js';
import type { LiveSide } from './describe.js';
import {
  hashFile,
  type ManifestEntry,
  readDescription,
  readManifest,
  requireCompleteExport,
  resolveInside,
} from './folder.js';
import { ESCAPED_DIR, OBJECTS_DIR } from './keys.js';
import { MIRROR_KEYS } from './mirror.js';
import { runPool } from './pool.js';
import { hashRemote } from './restore.js';

export interface Finding {
  readonly bucket: string;
  readonly key: string;
  readonly path: string;
  readonly problem: 'missing' | 'changed' | 'metadata' | 'extra';
  readonly detail: string;
}

export interface VerifyResult {
  readonly checked: number;
  readonly findings: readonly Finding[];
  /** Missing or changed: the ones that make verify fail. Extras are reported only. */
  readonly bad: number;
}

export interface VerifyOptions {
  readonly dir: string;
  readonly progress: NodeJS.WritableStream;
  readonly quiet?: boolean;
  /** @default 8 */
  readonly concurrency?: number;
}

async function loadManifest(dir: string): Promise<ManifestEntry[]> {
  await requireCompleteExport(dir);
  return readManifest(dir);
}

const verifyProgress = (opts: VerifyOptions, entries: readonly ManifestEntry[]) =>
  new Progress({
    stream: opts.progress,
    label: 'verify',
    total: entries.length,
    totalBytes: entries.reduce((n, e) => n + e.size, 0),
    quiet: opts.quiet ?? false,
  });

const summarize = (findings: Finding[], checked: number): VerifyResult => ({
  checked,
  findings: findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  bad: findings.filter((f) => f.problem !== 'extra').length,
});

/** Every file against the manifest, plus files under objects/ and escaped/ the manifest lacks. */
export async function verifyFolder(opts: VerifyOptions): Promise<VerifyResult> {
  const entries = await loadManifest(opts.dir);
  const findings: Finding[] = [];
  const progress = verifyProgress(opts, entries);
  const failures = await runPool(entries, opts.concurrency ?? 8, async (e) => {
    const path = resolveInside(opts.dir, e.path);
    const at = { bucket: e.bucket, key: e.key, path: e.path };
    let size: number;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new Error('not a file');
      size = s.size;
    } catch {
      findings.push({ ...at, problem: 'missing', detail: 'file not found' });
      return;
    }
    if (size !== e.size) {
      findings.push({ ...at, problem: 'changed', detail: `${size} bytes, manifest says ${e.size}` });
    } else if ((await hashFile(path)) !== e.sha256) {
      findings.push({ ...at, problem: 'changed', detail: 'SHA-256 differs from the manifest' });
    }
    progress.addBytes(e.size);
    progress.itemDone();
  });
  progress.stop();
  for (const f of failures) {
    findings.push({
      bucket: f.item.bucket,
      key: f.item.key,
      path: f.item.path,
      problem: 'missing',
      detail: String(f.error),
    });
  }
  const listed = new Set(entries.map((e) => e.path));
  for (const top of [OBJECTS_DIR, ESCAPED_DIR]) {
    for (const file of await walk(join(opts.dir, top))) {
      const rel = relative(opts.dir, file).split(sep).join('/');
      if (!listed.has(rel))
        findings.push({ bucket: '', key: '', path: rel, problem: 'extra', detail: 'not in the manifest' });
    }
  }
  return summarize(findings, entries.length);
}

async function walk(dir: string): Promise<string[]> {
  let names: import('node:fs').Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const d of names) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** The manifest against a live target: each object present, same size, same SHA-256 and metadata. */
export async function verifyAgainst(
  opts: VerifyOptions & { readonly target: LiveSide; readonly bucket?: string },
): Promise<VerifyResult> {
  const entries = await loadManifest(opts.dir);
  const d = await readDescription(opts.dir);
  const findings: Finding[] = [];
  const buckets = [...new Set([...(d?.buckets.map((b) => b.name) ?? []), ...entries.map((e) => e.bucket)])];
  const progress = verifyProgress(opts, entries);
  try {
    for (const bucket of buckets) {
      const store = new S3Store(opts.target.s3, opts.bucket ?? bucket);
      const there = new Map<string, number>();
      for await (const o of store.list()) there.set(o.key, o.size);
      const mine = entries.filter((e) => e.bucket === bucket);
      const failures = await runPool(mine, opts.concurrency ?? 8, async (e) => {
        const at = { bucket: e.bucket, key: e.key, path: e.path };
        const size = there.get(e.key);
        if (size === undefined) {
          findings.push({ ...at, problem: 'missing', detail: `not at the target` });
          return;
        }
        if (size !== e.size) {
          findings.push({
            ...at,
            problem: 'changed',
            detail: `${size} bytes at the target, manifest says ${e.size}`,
          });
          return;
        }
        const head = await store.head(e.key);
        const back = await hashRemote(store, e.key);
        if (back.sha256 !== e.sha256) {
          findings.push({
            ...at,
            problem: 'changed',
            detail: 'SHA-256 at the target differs from the manifest',
          });
        } else if (
          (head?.contentType ?? undefined) !== (e.contentType ?? undefined) ||
          JSON.stringify(sortObj(withoutMirrorKeys(head?.metadata ?? {}, e.metadata))) !==
            JSON.stringify(sortObj(e.metadata))
        ) {
          findings.push({ ...at, problem: 'metadata', detail: 'content type or user metadata differs' });
        }
        progress.addBytes(e.size);
        progress.itemDone();
      });
      for (const f of failures) {
        findings.push({
          bucket,
          key: f.item.key,
          path: f.item.path,
          problem: 'missing',
          detail: String(f.error),
        });
      }
      const known = new Set(mine.map((e) => e.key));
      for (const key of there.keys()) {
        if (!known.has(key))
          findings.push({
            bucket,
            key,
            path: '',
            problem: 'extra',
            detail: 'at the target, not in the export',
          });
      }
    }
  } finally {
    progress.stop();
  }
  return summarize(findings, entries.length);
}

const sortObj = (o: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The mirror's bookkeeping keys on a target object, unless the source object carried them itself. */
const withoutMirrorKeys = (
  meta: Readonly<Record<string, string>>,
  expected: Readonly<Record<string, string>>,
) =>
  Object.fromEntries(
    Object.entries(meta).filter(([k]) => !(MIRROR_KEYS as readonly string[]).includes(k) || k in expected),
  );
