/**
 * Submitting to whichever side of a deployment is active (core/active-side.ts): a queue and a
 * store that look up the active-side record (at most once per `refreshMs`, in the bucket of the
 * side they last used) and send to that side. A Submitter built on them follows a failover, and
 * a failback, without being reconfigured. The other side is reached with the same credentials
 * and options as the first, at the endpoint and region the record names.
 *
 * For submitting and reading results: receipt handles do not carry over a switch, so a consumer
 * uses its own side's queue (workers pause while their side is not active).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { queueNameOf, readActiveSide } from '../core/active-side.js';
import { S3Store } from '../core/adapters/s3-store.js';
import { SqsQueue } from '../core/adapters/sqs-queue.js';
import { type EndpointConfig, s3Client, sqsClient } from '../core/aws.js';
import { FlotillaError } from '../core/errors.js';
import type { ObjectStore } from '../core/ports/object-store.js';
import type { QueuePort } from '../core/ports/queue.js';

export interface HomeSide {
  readonly endpoint: EndpointConfig;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly bucket: string;
}

/** One side as the router uses it: its clients, its bucket, and its queues by name. */
interface Side {
  readonly key: string;
  readonly sqs: SQSClient;
  readonly store: S3Store;
  /** Queue name → URL on this side; undefined on the home side, whose URLs are the caller's own. */
  readonly queues?: Readonly<Record<string, string>>;
}

/**
 * One per deployment (its bucket), shared by every queue a caller sends to: the record is read
 * once per `refreshMs` for all of them, and each home queue URL is mapped by its name to the
 * active side's copy.
 */
export class ActiveSideRouter {
  private readonly home: Side;
  private current: Side;
  private checkedAt = 0;
  private checking?: Promise<Side>;
  private readonly clients = new Map<string, { sqs: SQSClient; s3: S3Client }>();
  private readonly queues = new Map<string, SqsQueue>();

  constructor(
    private readonly homeSide: HomeSide,
    /** How long an answer is trusted before the record is read again. @default 2000 */
    private readonly refreshMs = 2000,
  ) {
    const key = keyOf(homeSide.endpoint.endpoint, homeSide.endpoint.region);
    this.clients.set(key, homeSide);
    this.home = {
      key: sideKey(key, homeSide.bucket),
      sqs: homeSide.sqs,
      store: new S3Store(homeSide.s3, homeSide.bucket),
    };
    this.current = this.home;
  }

  /** The active side's bucket, without a look-up. */
  get lastStore(): S3Store {
    return this.current.store;
  }

  /** The active side's copy of the home queue `homeUrl`, without a look-up. */
  lastQueue(homeUrl: string): SqsQueue {
    return this.queueOn(this.current, homeUrl);
  }

  /** The active side's bucket, the record read again when the last answer is stale. */
  async store(): Promise<S3Store> {
    return (await this.side()).store;
  }

  /** The active side's copy of the home queue `homeUrl` (found by its name), read as `store()` is. */
  async queue(homeUrl: string): Promise<SqsQueue> {
    return this.queueOn(await this.side(), homeUrl);
  }

  /** Close the clients made for other sides (the home side's belong to the caller). */
  close(): void {
    const home = keyOf(this.homeSide.endpoint.endpoint, this.homeSide.endpoint.region);
    for (const [k, c] of this.clients) {
      if (k === home) continue;
      c.sqs.destroy();
      c.s3.destroy();
    }
  }

  private side(): Promise<Side> {
    if (Date.now() - this.checkedAt < this.refreshMs) return Promise.resolve(this.current);
    this.checking ??= this.refresh().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private queueOn(side: Side, homeUrl: string): SqsQueue {
    const name = queueNameOf(homeUrl);
    const url = side.queues ? side.queues[name] : homeUrl;
    if (!url)
      throw new FlotillaError(
        `the active side (${side.key}) has no queue named '${name}'; run flotilla failover again`,
      );
    const k = `${side.key}|${url}`;
    let q = this.queues.get(k);
    if (!q) {
      q = new SqsQueue(side.sqs, url);
      this.queues.set(k, q);
    }
    return q;
  }

  private async refresh(): Promise<Side> {
    // An unreadable record (an older deployment without the grant, an outage) changes nothing.
    const rec = await readActiveSide(this.current.store).catch(() => undefined);
    this.checkedAt = Date.now();
    if (!rec) return this.current;
    const region = rec.active.region ?? this.homeSide.endpoint.region;
    const key = keyOf(rec.active.endpoint, region);
    const id = sideKey(key, rec.active.bucket);
    if (id === this.current.key) return this.current;
    if (id === this.home.key) {
      this.current = this.home;
      return this.current;
    }
    let c = this.clients.get(key);
    if (!c) {
      const { endpoint: _e, region: _r, ...rest } = this.homeSide.endpoint;
      const cfg: EndpointConfig = {
        ...rest,
        ...(rec.active.endpoint ? { endpoint: rec.active.endpoint } : {}),
        ...(region ? { region } : {}),
      };
      c = { sqs: sqsClient(cfg), s3: s3Client(cfg) };
      this.clients.set(key, c);
    }
    this.current = {
      key: id,
      sqs: c.sqs,
      store: new S3Store(c.s3, rec.active.bucket),
      queues: rec.active.queues,
    };
    return this.current;
  }
}

const keyOf = (endpoint: string | undefined, region: string | undefined) =>
  `${endpoint ?? 'aws'}|${region ?? ''}`;
const sideKey = (clientKey: string, bucket: string) => `${clientKey}|${bucket}`;

/** A queue port that sends to the active side's copy of the home queue `homeUrl`. */
export function followingQueue(router: ActiveSideRouter, homeUrl: string): QueuePort {
  const on = () => router.queue(homeUrl);
  return {
    get url() {
      return router.lastQueue(homeUrl).url;
    },
    receive: async (o) => (await on()).receive(o),
    sendBatch: async (e) => (await on()).sendBatch(e),
    send: async (e) => (await on()).send(e),
    deleteBatch: async (e) => (await on()).deleteBatch(e),
    changeVisibility: async (h, s) => (await on()).changeVisibility(h, s),
    changeVisibilityBatch: async (e) => (await on()).changeVisibilityBatch(e),
    attributes: async (n) => (await on()).attributes(n),
  };
}

/** An object store on the active side's bucket. */
export function followingStore(router: ActiveSideRouter): ObjectStore {
  const on = () => router.store();
  return {
    get bucket() {
      return router.lastStore.bucket;
    },
    async *list(prefix) {
      yield* (await on()).list(prefix);
    },
    get: async (k, signal) => (await on()).get(k, signal),
    head: async (k) => (await on()).head(k),
    put: async (k, b, o) => (await on()).put(k, b, o),
    upload: async (k, b, o) => (await on()).upload(k, b, o),
    delete: async (k) => (await on()).delete(k),
    deleteMany: async (k) => (await on()).deleteMany(k),
  };
}
