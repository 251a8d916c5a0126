/**
 * The worker's store, held to the bucket layout (core/layout.ts): every call is checked against
 * what the worker's IAM role is granted before it leaves the process, so a handler that reads or
 * writes outside its prefixes fails the same way in the embedded emulator, on moto and on AWS,
 * with an error that names the prefix and the cdk.json setting that would grant it.
 */
import type { Readable } from 'node:stream';
import { UnrecoverableError } from '../../core/errors.js';
import {
  type Access,
  allows,
  BUCKET_SETTING,
  type BucketLayout,
  DATA_LAYOUT,
  type Principal,
  refusal,
} from '../../core/layout.js';
import type { ObjectHead, ObjectInfo, ObjectStore, PutOptions } from '../../core/ports/object-store.js';
import type { HandlerRegistry } from '../handlers/registry.js';

/**
 * A call outside the layout. Unrecoverable: a retry would be refused again, as AWS would refuse
 * it (AccessDenied), so the job goes to the DLQ at once with this message in its error record.
 */
export class LayoutViolationError extends UnrecoverableError {
  constructor(
    message: string,
    readonly key: string,
    readonly access: Access,
  ) {
    super(message);
    this.name = 'LayoutViolationError';
  }
}

/** An ObjectStore that refuses what `principal` is not granted in `layout`, then delegates. */
export class LayoutStore implements ObjectStore {
  private readonly others = new Map<string, ObjectStore>();

  constructor(
    private readonly inner: ObjectStore,
    readonly layout: BucketLayout = DATA_LAYOUT,
    readonly principal: Principal = 'worker',
  ) {}

  get bucket(): string {
    return this.inner.bucket;
  }

  private check(access: Access, key: string): void {
    if (!allows(this.layout, this.principal, access, key)) {
      throw new LayoutViolationError(
        `bucket ${this.inner.bucket}: ${refusal(this.layout, this.principal, access, key)}`,
        key,
        access,
      );
    }
  }

  /**
   * A bucket declared in cdk.json's `storage.buckets` (the layout's extra buckets), held to what
   * it grants this principal on every key, as the role's policy is. A bucket not declared, or
   * declared with nothing for this principal, is refused with the setting that would grant it.
   */
  forBucket(name: string): ObjectStore {
    const known = this.others.get(name);
    if (known) return known;
    const grants = this.layout.extraBuckets.find((b) => b.name === name)?.grants[this.principal] ?? [];
    const store = new GrantedBucket(this.inner, name, grants, this.principal);
    this.others.set(name, store);
    return store;
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer> {
    this.check('read', key);
    return this.inner.get(key, signal);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    this.check('read', key);
    return this.inner.head(key);
  }

  async put(key: string, body: Buffer | string, opts?: PutOptions): Promise<boolean> {
    this.check('write', key);
    return this.inner.put(key, body, opts);
  }

  async upload(
    key: string,
    body: Readable | Buffer,
    opts?: PutOptions & { partSizeBytes?: number },
  ): Promise<void> {
    this.check('write', key);
    return this.inner.upload(key, body, opts);
  }

  async delete(key: string): Promise<void> {
    this.check('delete', key);
    return this.inner.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.check('delete', k);
    return this.inner.deleteMany(keys);
  }

  list(prefix = ''): AsyncIterable<ObjectInfo> {
    this.check('list', prefix);
    return this.inner.list(prefix);
  }
}

/** An extra bucket, held to one list of access on all of its keys. */
class GrantedBucket implements ObjectStore {
  private opened?: ObjectStore;

  constructor(
    private readonly data: ObjectStore,
    readonly bucket: string,
    private readonly grants: readonly Access[],
    private readonly principal: Principal,
  ) {}

  private store(access: Access, key: string): ObjectStore {
    if (!this.grants.includes(access)) {
      const has = this.grants.length > 0 ? this.grants.join(', ') : 'nothing';
      throw new LayoutViolationError(
        `bucket ${this.bucket}: the ${this.principal} may not ${access} '${key}': ${BUCKET_SETTING}.'${this.bucket}' grants the ${this.principal} ${has}. To grant it, add '${access}' to ${BUCKET_SETTING}.'${this.bucket}'.${this.principal} in cdk.json`,
        key,
        access,
      );
    }
    if (!this.data.forBucket) throw new Error(`this store cannot open other buckets (${this.bucket})`);
    this.opened ??= this.data.forBucket(this.bucket);
    return this.opened;
  }

  get(key: string, signal?: AbortSignal): Promise<Buffer> {
    return this.store('read', key).get(key, signal);
  }
  head(key: string): Promise<ObjectHead | undefined> {
    return this.store('read', key).head(key);
  }
  put(key: string, body: Buffer | string, opts?: PutOptions): Promise<boolean> {
    return this.store('write', key).put(key, body, opts);
  }
  upload(
    key: string,
    body: Readable | Buffer,
    opts?: PutOptions & { partSizeBytes?: number },
  ): Promise<void> {
    return this.store('write', key).upload(key, body, opts);
  }
  delete(key: string): Promise<void> {
    return this.store('delete', key).delete(key);
  }
  async deleteMany(keys: readonly string[]): Promise<void> {
    const [first] = keys;
    if (first !== undefined) await this.store('delete', first).deleteMany(keys);
  }
  list(prefix = ''): AsyncIterable<ObjectInfo> {
    return this.store('list', prefix).list(prefix);
  }
}

/**
 * Every place a registered handler declares it reads, writes or lists (HandlerDefinition
 * `storage`) that the layout does not grant the worker; empty when all are granted.
 */
export function undeclaredStorage(handlers: HandlerRegistry, layout: BucketLayout): string[] {
  const problems: string[] = [];
  for (const type of handlers.types()) {
    const s = handlers.get(type)?.storage;
    if (!s) continue;
    const wants: [Access, readonly string[] | undefined][] = [
      ['read', s.reads],
      ['write', s.writes],
      ['list', s.lists],
    ];
    for (const [access, prefixes] of wants) {
      for (const p of prefixes ?? []) {
        if (!allows(layout, 'worker', access, p))
          problems.push(`handler '${type}': ${refusal(layout, 'worker', access, p)}`);
      }
    }
  }
  return problems;
}

/**
 * The store handlers and the runtime get: `inner` held to `layout`. Throws at start-up, before
 * any job is taken, when a registered handler declares storage the layout does not grant.
 */
export function workerLayoutStore(
  inner: ObjectStore,
  handlers: HandlerRegistry,
  layout: BucketLayout = DATA_LAYOUT,
): LayoutStore {
  const problems = undeclaredStorage(handlers, layout);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return new LayoutStore(inner, layout, 'worker');
}
