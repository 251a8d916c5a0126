/**
 * Where each S3 key lives inside an export folder. Pure and deterministic: the same set of keys
 * always gives the same paths, so a re-export finds its own files again.
 *
 * The rule (docs/mirror.md repeats it):
 *  - A key is stored as a plain file at `objects/<bucket>/<key>` when it is an ordinary relative
 *    path: every '/'-separated segment non-empty, not '.' or '..', no control characters (U+0000
 *    to U+001F, U+007F), no backslash, at most 200 bytes per segment and 1000 bytes in all, and
 *    well-formed Unicode.
 *  - It must also not clash with another key on a case-insensitive, normalising file system:
 *    keys are compared folded (Unicode NFC, lower case). If two keys fold alike, the first in
 *    sort order keeps the plain path. If a key is also a folder of another key (`d` and `d/f`),
 *    the folder wins and the file `d` is escaped.
 *  - Every other key is escaped: stored at `escaped/<bucket>/<sha256 of the key, hex>`. The
 *    manifest records each object's key and path, and restore uploads the file under its key, so
 *    nothing is lost and no name can reach outside the folder.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../../core/errors.js';

export const OBJECTS_DIR = 'objects';
export const ESCAPED_DIR = 'escaped';
export const MAX_SEGMENT_BYTES = 200;
export const MAX_KEY_BYTES = 1000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const UNSAFE_CHARS = /[\u0000-\u001f\u007f\\]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;

/** S3 bucket names are already path-safe; this refuses anything else before it reaches a path. */
export function checkBucketName(bucket: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new UsageError(`'${bucket}' is not a valid bucket name`);
  }
}

/** True when the key, taken alone, can be a relative path of plain segments. */
export function isPlainKey(key: string): boolean {
  if (key.length === 0 || UNSAFE_CHARS.test(key) || LONE_SURROGATE.test(key)) return false;
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return false;
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return false;
    if (Buffer.byteLength(seg) > MAX_SEGMENT_BYTES) return false;
  }
  return true;
}

const fold = (s: string) => s.normalize('NFC').toLowerCase();

export function escapedPath(bucket: string, key: string): string {
  return `${ESCAPED_DIR}/${bucket}/${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function plainPath(bucket: string, key: string): string {
  return `${OBJECTS_DIR}/${bucket}/${key}`;
}

/**
 * Paths, relative to the export folder and '/'-separated, for every key of one bucket.
 * Depends on the whole set (clashes), not on the order keys are given in.
 */
export function layoutKeys(bucket: string, keys: Iterable<string>): Map<string, string> {
  checkBucketName(bucket);
  const sorted = [...new Set(keys)].sort(compareKeys);
  const candidates = sorted.filter(isPlainKey);
  const folders = new Set<string>();
  for (const key of candidates) {
    const f = fold(key);
    for (let i = f.indexOf('/'); i >= 0; i = f.indexOf('/', i + 1)) folders.add(f.slice(0, i));
  }
  const taken = new Set<string>();
  const out = new Map<string, string>();
  for (const key of sorted) {
    let plain = isPlainKey(key);
    if (plain) {
      const f = fold(key);
      if (folders.has(f) || taken.has(f)) plain = false;
      else taken.add(f);
    }
    out.set(key, plain ? plainPath(bucket, key) : escapedPath(bucket, key));
  }
  return out;
}

/** S3's listing order: by the UTF-8 bytes of the key. Both sides of a diff sort with this. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 code-unit order is UTF-8 byte (code point) order, except that a surrogate (half of a
  // code point above U+FFFF) sorts below U+E000-U+FFFF in UTF-16 and above it in UTF-8. So look
  // at the first code unit that differs: only a surrogate against a non-surrogate needs care.
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length < b.length ? -1 : 1;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  const sx = x >= 0xd800 && x <= 0xdfff;
  const sy = y >= 0xd800 && y <= 0xdfff;
  if (sx !== sy) return sx ? 1 : -1;
  return x < y ? -1 : 1;
}
