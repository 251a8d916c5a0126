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
import { queueNameOf, readActiveSide, type SideAddress } from '../core/active-side.js';
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
  readonly queueUrl: string;
  readonly bucket: string;
}

interface Current {
  readonly queue: SqsQueue;
  readonly store: S3Store;
}

export class ActiveSideRouter {
  private current: Current;
  private checkedAt = 0;
  private checking?: Promise<Current>;
  private readonly clients = new Map<string, { sqs: SQSClient; s3: S3Client }>();
  private readonly queueName: string;

  constructor(
    private readonly home: HomeSide,
    /** How long an answer is trusted before the record is read again. @default 2000 */
    private readonly refreshMs = 2000,
  ) {
    this.queueName = queueNameOf(home.queueUrl);
    this.current = { queue: new SqsQueue(home.sqs, home.queueUrl), store: new S3Store(home.s3, home.bucket) };
    this.clients.set(keyOf(home.endpoint.endpoint, home.endpoint.region), home);
  }

  /** The side in use, without a look-up. */
  get last(): Current {
    return this.current;
  }

  /** The active side's queue and store, the record read again when the last answer is stale. */
  side(): Promise<Current> {
    if (Date.now() - this.checkedAt < this.refreshMs) return Promise.resolve(this.current);
    this.checking ??= this.refresh().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** Close the clients made for other sides (the home side's belong to the caller). */
  close(): void {
    for (const [k, c] of this.clients) {
      if (k === keyOf(this.home.endpoint.endpoint, this.home.endpoint.region)) continue;
      c.sqs.destroy();
      c.s3.destroy();
    }
  }

  private async refresh(): Promise<Current> {
    // An unreadable record (an older deployment without the grant, an outage) changes nothing.
    const rec = await readActiveSide(this.current.store).catch(() => undefined);
    this.checkedAt = Date.now();
    if (
      !rec ||
      (rec.active.bucket === this.current.store.bucket && sameQueue(rec.active, this.current.queue.url))
    )
      return this.current;
    const url = rec.active.queues[this.queueName];
    if (!url)
      throw new FlotillaError(
        `the active side (${rec.active.endpoint ?? 'AWS'}) has no queue named '${this.queueName}'; run flotilla failover again`,
      );
    const region = rec.active.region ?? this.home.endpoint.region;
    const key = keyOf(rec.active.endpoint, region);
    let c = this.clients.get(key);
    if (!c) {
      const { endpoint: _e, region: _r, ...rest } = this.home.endpoint;
      const cfg: EndpointConfig = {
        ...rest,
        ...(rec.active.endpoint ? { endpoint: rec.active.endpoint } : {}),
        ...(region ? { region } : {}),
      };
      c = { sqs: sqsClient(cfg), s3: s3Client(cfg) };
      this.clients.set(key, c);
    }
    this.current = { queue: new SqsQueue(c.sqs, url), store: new S3Store(c.s3, rec.active.bucket) };
    return this.current;
  }
}

const keyOf = (endpoint: string | undefined, region: string | undefined) =>
  `${endpoint ?? 'aws'}|${region ?? ''}`;
const sameQueue = (side: SideAddress, url: string) => Object.values(side.queues).includes(url);

/** A queue port that sends to the active side's copy of the queue. */
export function followingQueue(router: ActiveSideRouter): QueuePort {
  const on = async () => (await router.side()).queue;
  return {
    get url() {
      return router.last.queue.url;
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
  const on = async () => (await router.side()).store;
  return {
    get bucket() {
      return router.last.store.bucket;
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
