/**
 * Small ports between Flotilla's logic and SQS/S3. The runtime, the submitter and the sync
 * engine talk to these; the SQS and S3 implementations below are built from one client each.
 * Unit tests may substitute fakes; anything that crosses the wire is tested against a real
 * emulator over HTTP.
 */
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Upload } from '@aws-sdk/lib-storage';

// ---------------------------------------------------------------- queue

export interface QueueMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** How many times SQS has handed this message out, this time included. */
  readonly receiveCount: number;
  readonly sentAtMs: number;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface SendEntry {
  readonly id: string;
  readonly body: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly delaySeconds?: number;
}

export interface EntryFailure {
  readonly id: string;
  readonly code: string;
  readonly message: string;
  readonly senderFault: boolean;
}

export interface ReceiveOptions {
  readonly maxMessages: number;
  readonly waitTimeSeconds: number;
  readonly visibilityTimeoutSeconds?: number;
  /**
   * Ask for the messages' own attributes (`QueueMessage.attributes`). Without them each response
   * is smaller and cheaper to parse: the worker, which reads only the body and the receive count,
   * goes without. @default true
   */
  readonly messageAttributes?: boolean;
  readonly abortSignal?: AbortSignal;
}

export interface QueuePort {
  readonly url: string;
  receive(opts: ReceiveOptions): Promise<QueueMessage[]>;
  /** Send up to 10 entries; returns the entries SQS refused. */
  sendBatch(entries: readonly SendEntry[]): Promise<EntryFailure[]>;
  send(entry: Omit<SendEntry, 'id'>): Promise<string>;
  /** Delete up to 10 messages by receipt handle (keyed by your ids); returns per-entry failures. */
  deleteBatch(entries: readonly { id: string; receiptHandle: string }[]): Promise<EntryFailure[]>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  changeVisibilityBatch(
    entries: readonly { id: string; receiptHandle: string; seconds: number }[],
  ): Promise<EntryFailure[]>;
  attributes(names?: readonly string[]): Promise<Record<string, string>>;
}

const toAttrs = (a?: Readonly<Record<string, string>>): Record<string, MessageAttributeValue> | undefined =>
  a && Object.keys(a).length > 0
    ? Object.fromEntries(Object.entries(a).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]))
    : undefined;

const failures = (
  failed: { Id?: string; Code?: string; Message?: string; SenderFault?: boolean }[] | undefined,
): EntryFailure[] =>
  (failed ?? []).map((f) => ({
    id: f.Id ?? '',
    code: f.Code ?? 'Unknown',
    message: f.Message ?? '',
    senderFault: f.SenderFault ?? false,
  }));

const NO_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({});

export class SqsQueue implements QueuePort {
  constructor(
    private readonly client: SQSClient,
    readonly url: string,
  ) {}

  async receive(opts: ReceiveOptions): Promise<QueueMessage[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: Math.max(1, Math.min(10, opts.maxMessages)),
        WaitTimeSeconds: opts.waitTimeSeconds,
        VisibilityTimeout: opts.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: opts.messageAttributes === false ? undefined : ['All'],
      }),
      // No options object unless needed: the SDK reuses its resolved handler only then.
      opts.abortSignal ? { abortSignal: opts.abortSignal } : undefined,
    );
    // Some emulators send every attribute whatever was asked: what was not asked for is dropped.
    const withAttributes = opts.messageAttributes !== false;
    return (out.Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
      sentAtMs: Number(m.Attributes?.SentTimestamp ?? Date.now()),
      attributes:
        withAttributes && m.MessageAttributes
          ? Object.fromEntries(Object.entries(m.MessageAttributes).map(([k, v]) => [k, v.StringValue ?? '']))
          : NO_ATTRIBUTES,
    }));
  }

  async sendBatch(entries: readonly SendEntry[]): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = await this.client.send(
      new SendMessageBatchCommand({
        QueueUrl: this.url,
        Entries: entries.map((e) => ({
          Id: e.id,
          MessageBody: e.body,
          MessageAttributes: toAttrs(e.attributes),
          DelaySeconds: e.delaySeconds,
        })),
      }),
    );
    return failures(out.Failed);
  }

  async send(entry: Omit<SendEntry, 'id'>): Promise<string> {
    const out = await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.url,
        MessageBody: entry.body,
        MessageAttributes: toAttrs(entry.attributes),
        DelaySeconds: entry.delaySeconds,
      }),
    );
    return out.MessageId ?? '';
  }

  async deleteBatch(entries: readonly { id: string; receiptHandle: string }[]): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = await this.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.url,
        Entries: entries.map((e) => ({ Id: e.id, ReceiptHandle: e.receiptHandle })),
      }),
    );
    return failures(out.Failed);
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.url,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }

  async changeVisibilityBatch(
    entries: readonly { id: string; receiptHandle: string; seconds: number }[],
  ): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = await this.client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: this.url,
        Entries: entries.map((e) => ({
          Id: e.id,
          ReceiptHandle: e.receiptHandle,
          VisibilityTimeout: e.seconds,
        })),
      }),
    );
    return failures(out.Failed);
  }

  async attributes(names: readonly string[] = ['All']): Promise<Record<string, string>> {
    const out = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.url,
        AttributeNames: names as GetQueueAttributesCommand['input']['AttributeNames'],
      }),
    );
    return out.Attributes ?? {};
  }
}

/** A queue's redrive policy, as the RedrivePolicy attribute carries it. */
export interface RedrivePolicy {
  readonly deadLetterTargetArn: string;
  readonly maxReceiveCount?: number;
}

/** Parse the RedrivePolicy attribute; undefined when the queue has none. */
export function parseRedrivePolicy(raw: string | undefined): RedrivePolicy | undefined {
  if (!raw) return undefined;
  const p = JSON.parse(raw) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
  if (typeof p.deadLetterTargetArn !== 'string') return undefined;
  const n = Number(p.maxReceiveCount);
  return {
    deadLetterTargetArn: p.deadLetterTargetArn,
    ...(Number.isFinite(n) && n > 0 ? { maxReceiveCount: n } : {}),
  };
}

/**
 * The DLQ a redrive policy points at. Its name and account come from the ARN; GetQueueUrl turns
 * them into a URL the current endpoint serves.
 */
export async function deadLetterQueueOf(
  client: SQSClient,
  policy: RedrivePolicy,
): Promise<SqsQueue | undefined> {
  const parts = policy.deadLetterTargetArn.split(':');
  const name = parts[5];
  if (!name) return undefined;
  const out = await client.send(
    new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: parts[4] }),
  );
  return out.QueueUrl ? new SqsQueue(client, out.QueueUrl) : undefined;
}

/** The DLQ of a queue, from its RedrivePolicy; undefined when the queue has none. */
export async function findDeadLetterQueue(
  client: SQSClient,
  queue: QueuePort,
): Promise<SqsQueue | undefined> {
  const policy = parseRedrivePolicy((await queue.attributes(['RedrivePolicy'])).RedrivePolicy);
  return policy ? deadLetterQueueOf(client, policy) : undefined;
}

// ---------------------------------------------------------------- objects

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModifiedMs: number;
}

export interface ObjectHead extends ObjectInfo {
  readonly contentType?: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Standard headers an object carries besides its type; kept by backup and mirror. */
export interface ObjectHeaders {
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  readonly contentEncoding?: string;
  readonly contentLanguage?: string;
}

export interface PutOptions extends ObjectHeaders {
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Write only if no object exists at the key (If-None-Match: *). */
  readonly ifAbsent?: boolean;
}

export interface ObjectStore {
  readonly bucket: string;
  get(key: string, signal?: AbortSignal): Promise<Buffer>;
  getStream(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Undefined when there is no object at the key. */
  head(key: string): Promise<ObjectHead | undefined>;
  /** Returns false when `ifAbsent` was asked and the key already existed. */
  put(key: string, body: Buffer | string, opts?: PutOptions): Promise<boolean>;
  /** Streams of any size: multipart above `partSizeBytes`. */
  upload(key: string, body: Readable | Buffer, opts?: PutOptions & { partSizeBytes?: number }): Promise<void>;
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Every object under a prefix, in key order, page by page. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
}

const isStatus = (err: unknown, ...codes: number[]) =>
  codes.includes((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0);

export class S3Store implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async get(key: string, signal?: AbortSignal): Promise<Buffer> {
    const out = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      signal ? { abortSignal: signal } : undefined,
    );
    const bytes = await out.Body?.transformToByteArray();
    return Buffer.from(bytes ?? new Uint8Array());
  }

  async getStream(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const out = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }),
    );
    return out.Body as Readable;
  }

  /**
   * One GET that returns the body and the object's headers together (no separate HEAD): for the
   * sync engine. `ifMatch` pins ranged reads of a large object to one version of it.
   */
  async read(
    key: string,
    opts: { range?: { start: number; end: number }; ifMatch?: string; signal?: AbortSignal } = {},
  ): Promise<{ body: Readable; head: ObjectHead & ObjectHeaders }> {
    const out = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Range: opts.range ? `bytes=${opts.range.start}-${opts.range.end}` : undefined,
        IfMatch: opts.ifMatch,
      }),
      // No options object unless needed: the SDK reuses its resolved handler only then.
      opts.signal ? { abortSignal: opts.signal } : undefined,
    );
    return {
      body: out.Body as Readable,
      head: {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModifiedMs: out.LastModified?.getTime() ?? 0,
        contentType: out.ContentType,
        metadata: out.Metadata ?? {},
        cacheControl: out.CacheControl,
        contentDisposition: out.ContentDisposition,
        contentEncoding: out.ContentEncoding,
        contentLanguage: out.ContentLanguage,
      },
    };
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModifiedMs: out.LastModified?.getTime() ?? 0,
        contentType: out.ContentType,
        metadata: out.Metadata ?? {},
      };
    } catch (err) {
      if (isStatus(err, 404) || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') {
        return undefined;
      }
      throw err;
    }
  }

  async put(key: string, body: Buffer | string, opts: PutOptions = {}): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: opts.contentType,
          Metadata: opts.metadata as Record<string, string> | undefined,
          CacheControl: opts.cacheControl,
          ContentDisposition: opts.contentDisposition,
          ContentEncoding: opts.contentEncoding,
          ContentLanguage: opts.contentLanguage,
          IfNoneMatch: opts.ifAbsent ? '*' : undefined,
        }),
      );
      return true;
    } catch (err) {
      // 412: the object exists. 409: a concurrent conditional write is in progress, and will win.
      if (opts.ifAbsent && isStatus(err, 412, 409)) return false;
      throw err;
    }
  }

  async upload(
    key: string,
    body: Readable | Buffer,
    opts: PutOptions & { partSizeBytes?: number } = {},
  ): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: opts.contentType,
        Metadata: opts.metadata as Record<string, string> | undefined,
        CacheControl: opts.cacheControl,
        ContentDisposition: opts.contentDisposition,
        ContentEncoding: opts.contentEncoding,
        ContentLanguage: opts.contentLanguage,
      },
      partSize: opts.partSizeBytes ?? 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      if (out.Errors && out.Errors.length > 0) {
        const e = out.Errors[0];
        throw new Error(
          `could not delete ${out.Errors.length} object(s), first ${e?.Key}: ${e?.Code} ${e?.Message}`,
        );
      }
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: toKey,
        CopySource: `${this.bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
      }),
    );
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix || undefined,
          ContinuationToken: token,
        }),
      );
      for (const o of out.Contents ?? []) {
        yield {
          key: o.Key ?? '',
          size: o.Size ?? 0,
          etag: o.ETag ?? '',
          lastModifiedMs: o.LastModified?.getTime() ?? 0,
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }
}

// ---------------------------------------------------------------- scale-in

/**
 * Keeps the orchestrator from stopping this worker while it holds a job: ECS task scale-in
 * protection on Fargate, instance scale-in protection in an Auto Scaling group, or nothing.
 * The runtime calls `protect(true)` when it goes from idle to busy and `protect(false)` when it
 * goes back to idle.
 */
export interface ScaleInGuard {
  readonly name: string;
  protect(enabled: boolean): Promise<void>;
}

export const NO_SCALE_IN_GUARD: ScaleInGuard = Object.freeze({
  name: 'none',
  async protect() {},
});
