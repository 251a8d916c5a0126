/**
 * Reading the bucket's small JSON records for the dashboard without reading any twice: a record
 * is fetched again only when its ETag (from the listing the dashboard made anyway) changes, and
 * a final record (written once, If-None-Match) is fetched once.
 */
import type { ObjectInfo, ObjectStore } from '../../core/ports/object-store.js';
import { PackReader } from '../../core/result-packs.js';

export class RecordCache {
  private readonly entries = new Map<string, { etag: string; value: unknown }>();
  /** Result packs (core/result-packs.ts), each read once: a pack never changes. */
  readonly packs: PackReader;

  constructor(
    private readonly store: ObjectStore,
    /** Entries kept; the oldest go first. */
    private readonly maxEntries = 100_000,
  ) {
    this.packs = new PackReader(store);
  }

  /** The record at a listed key, fetched only when its ETag changed; undefined when it is gone. */
  async read<T>(info: Pick<ObjectInfo, 'key' | 'etag'>): Promise<T | undefined> {
    const hit = this.entries.get(info.key);
    if (hit && hit.etag === info.etag) return hit.value as T;
    return this.fetch<T>(info.key, info.etag);
  }

  /**
   * The record at a key as last read, whatever its ETag now: for a record that never changes
   * once written (a final record), or one that a listing elsewhere keeps fresh (a manifest).
   */
  async readAny<T>(key: string): Promise<T | undefined> {
    const hit = this.entries.get(key);
    if (hit) return hit.value as T;
    return this.fetch<T>(key, '*');
  }

  private async fetch<T>(key: string, etag: string): Promise<T | undefined> {
    let value: T;
    try {
      value = JSON.parse((await this.store.get(key)).toString('utf8')) as T;
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
    this.entries.delete(key);
    this.entries.set(key, { etag, value });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return value;
  }
}

/** Every key under a prefix, with its ETag and time (a LIST per 1,000 keys). */
export async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  return out;
}
