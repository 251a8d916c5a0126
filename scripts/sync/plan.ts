/**
 * Comparison, kept apart from listing and transfer (rclone's march): two sorted listings become
 * source-only, destination-only and matched pairs, and a pure `needsTransfer` decides each pair.
 */
import { compareKeys } from './keys.js';

/** What one side knows about an object's source version. */
export interface Known {
  readonly size: number;
  /** The source's ETag, quotes included or not. Opaque: compared for equality, never as MD5. */
  readonly etag?: string;
  /** The source's LastModified, as the source listing reported it. */
  readonly lastModifiedMs?: number;
}

export interface Listed {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModifiedMs: number;
}

export type Pair<S, D> =
  | { readonly kind: 'source-only'; readonly key: string; readonly src: S }
  | { readonly kind: 'dest-only'; readonly key: string; readonly dst: D }
  | { readonly kind: 'matched'; readonly key: string; readonly src: S; readonly dst: D };

/** Walk two listings sorted by `compareKeys` in step. */
export function* march<S extends { key: string }, D extends { key: string }>(
  source: readonly S[],
  dest: readonly D[],
): Generator<Pair<S, D>> {
  let i = 0;
  let j = 0;
  while (i < source.length || j < dest.length) {
    const s = source[i];
    const d = dest[j];
    const c = s === undefined ? 1 : d === undefined ? -1 : compareKeys(s.key, d.key);
    if (c < 0 && s) {
      yield { kind: 'source-only', key: s.key, src: s };
      i++;
    } else if (c > 0 && d) {
      yield { kind: 'dest-only', key: d.key, dst: d };
      j++;
    } else if (s && d) {
      yield { kind: 'matched', key: s.key, src: s, dst: d };
      i++;
      j++;
    }
  }
}

export function sortByKey<T extends { key: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareKeys(a.key, b.key));
}

export const normalizeEtag = (etag: string | undefined): string =>
  (etag ?? '').replace(/^W\//, '').replace(/"/g, '');

/** A multipart ETag ("<hex>-<parts>") is not the MD5 of the content. */
export const isMultipartEtag = (etag: string | undefined): boolean => normalizeEtag(etag).includes('-');

/** A single-part ETag that looks like an MD5 (32 hex digits). On AWS with SSE-KMS it still is not one. */
export const looksLikeMd5 = (etag: string | undefined): boolean =>
  /^[0-9a-f]{32}$/i.test(normalizeEtag(etag));

/**
 * Does the destination need a fresh copy of `src`? `dst` is what the destination recorded about
 * the source version it holds (the export manifest, or the mirror's metadata on the target).
 * Same size, same source ETag and same source LastModified mean the same version; anything
 * unknown or different means transfer.
 */
export function needsTransfer(src: Listed, dst: Known | undefined): boolean {
  if (!dst) return true;
  if (src.size !== dst.size) return true;
  if (!dst.etag || normalizeEtag(src.etag) !== normalizeEtag(dst.etag)) return true;
  if (dst.lastModifiedMs === undefined || dst.lastModifiedMs !== src.lastModifiedMs) return true;
  return false;
}

/**
 * Mirror's shortcut from two listings alone: same size, both ETags single-part MD5-shaped and
 * equal (so equal content), and the target written after the source last changed.
 * False only means "look closer", never "different".
 */
export function sameByListing(src: Listed, dst: Listed): boolean {
  return (
    src.size === dst.size &&
    looksLikeMd5(src.etag) &&
    normalizeEtag(src.etag) === normalizeEtag(dst.etag) &&
    dst.lastModifiedMs >= src.lastModifiedMs
  );
}
