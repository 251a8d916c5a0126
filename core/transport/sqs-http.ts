/**
 * The worker's two hot SQS calls, ReceiveMessage and DeleteMessageBatch, without the SDK's
 * per-request middleware. Measured in the queue benchmark, a fresh worker spent 190-260 us of CPU
 * per message in the SDK and its own work was 11-13 us: the SDK set the ceiling for every
 * consumer. Here the SDK still decides what needs its rules (the endpoint, as its endpoint rules
 * and its queue-URL rule would; the signing region; the credentials and their refresh), and
 * each call is one SigV4-signed JSON POST on a keep-alive socket.
 *
 * Everything else (attributes, sends, visibility, abortable polls) stays on the SDK. The body of
 * each received message is checked against its MD5, as the SDK does.
 */
import { createHash } from 'node:crypto';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sigv4Endpoint } from '../aws.js';
import { type EntryFailure, type QueueMessage, type ReceiveOptions, SqsQueue } from '../ports.js';
import { HttpServiceError, SignedHttp, withRetries } from './signed-http.js';
import type { Credentials } from './sigv4.js';

const THROTTLED = new Set(['ThrottlingException', 'RequestThrottled', 'ServiceUnavailable']);
const NO_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({});

interface WireMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
  MD5OfBody?: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: Record<string, { StringValue?: string }>;
}

/** SqsQueue with receive (when not aborted) and deleteBatch sent as signed JSON requests. */
export class HttpSqsQueue extends SqsQueue {
  private readonly http: SignedHttp;

  constructor(
    client: SQSClient,
    url: string,
    /** Where requests go: the SDK's endpoint for this queue. */
    readonly endpoint: URL,
    /** The region requests are signed for. */
    readonly region: string,
    credentials: () => Promise<Credentials>,
    maxSockets = 64,
  ) {
    super(client, url);
    this.http = new SignedHttp(endpoint, region, 'sqs', credentials, maxSockets);
  }

  override async receive(opts: ReceiveOptions): Promise<QueueMessage[]> {
    // An abortable poll (the worker's idle polls, so that SIGTERM can cut them short) keeps the SDK.
    if (opts.abortSignal) return super.receive(opts);
    const withAttributes = opts.messageAttributes !== false;
    const out = (await this.call('ReceiveMessage', {
      QueueUrl: this.url,
      MaxNumberOfMessages: Math.max(1, Math.min(10, opts.maxMessages)),
      ...(opts.waitTimeSeconds !== undefined ? { WaitTimeSeconds: opts.waitTimeSeconds } : {}),
      ...(opts.visibilityTimeoutSeconds !== undefined
        ? { VisibilityTimeout: opts.visibilityTimeoutSeconds }
        : {}),
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      ...(withAttributes ? { MessageAttributeNames: ['All'] } : {}),
    })) as { Messages?: WireMessage[] };
    return (out.Messages ?? []).map((m) => {
      const body = m.Body ?? '';
      if (m.MD5OfBody !== undefined && createHash('md5').update(body).digest('hex') !== m.MD5OfBody) {
        throw new HttpServiceError(
          'InvalidChecksum',
          `message ${m.MessageId}: body does not match its MD5`,
          200,
        );
      }
      return {
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
        sentAtMs: Number(m.Attributes?.SentTimestamp ?? Date.now()),
        attributes:
          withAttributes && m.MessageAttributes
            ? Object.fromEntries(
                Object.entries(m.MessageAttributes).map(([k, v]) => [k, v.StringValue ?? '']),
              )
            : NO_ATTRIBUTES,
      };
    });
  }

  override async deleteBatch(
    entries: readonly { id: string; receiptHandle: string }[],
  ): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = (await this.call('DeleteMessageBatch', {
      QueueUrl: this.url,
      Entries: entries.map((e) => ({ Id: e.id, ReceiptHandle: e.receiptHandle })),
    })) as { Failed?: { Id?: string; Code?: string; Message?: string; SenderFault?: boolean }[] };
    return (out.Failed ?? []).map((f) => ({
      id: f.Id ?? '',
      code: f.Code ?? 'Unknown',
      message: f.Message ?? '',
      senderFault: f.SenderFault ?? false,
    }));
  }

  /** One AWS JSON 1.0 call, retried on throttling, server errors and dropped connections. */
  private call(action: string, input: unknown): Promise<unknown> {
    const body = JSON.stringify(input);
    return withRetries(
      () => this.post(action, body),
      (err) => err instanceof HttpServiceError && THROTTLED.has(err.name),
    );
  }

  private async post(action: string, body: string): Promise<unknown> {
    const res = await this.http.request('POST', this.endpoint.pathname || '/', {
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
      body,
    });
    let text = '';
    res.setEncoding('utf8');
    for await (const c of res) text += c as string;
    const status = res.statusCode ?? 0;
    let out: Record<string, unknown> = {};
    try {
      out = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      if (status < 300)
        throw new HttpServiceError('InvalidResponse', `${action}: the reply is not JSON`, status);
    }
    if (status >= 200 && status < 300) return out;
    // "com.amazonaws.sqs#QueueDoesNotExist" -> QueueDoesNotExist
    const type = String(out.__type ?? res.headers['x-amzn-query-error'] ?? `Http${status}`);
    const code = type.split('#').pop()?.split(';')[0] ?? type;
    throw new HttpServiceError(
      code,
      String(out.message ?? out.Message ?? `${action} failed (HTTP ${status})`),
      status,
    );
  }

  close(): void {
    this.http.close();
  }
}

/**
 * The job queue for a worker: HttpSqsQueue at the endpoint the SDK would use for this queue URL,
 * or the plain SqsQueue when that endpoint needs more than SigV4.
 */
export async function workerQueue(client: SQSClient, url: string, maxSockets = 64): Promise<SqsQueue> {
  const config = client.config as unknown as { isCustomEndpoint?: boolean; useQueueUrlAsEndpoint?: boolean };
  let resolved: { url: URL; region: string } | undefined;
  try {
    resolved = await sigv4Endpoint(client, { QueueUrl: url }, ReceiveMessageCommand);
  } catch {
    // No region, a malformed URL...: the SDK's own first call reports it the usual way.
    return new SqsQueue(client, url);
  }
  if (!resolved) return new SqsQueue(client, url);
  // The SDK's queue-URL rule: without an endpoint of its own, the client talks to the queue's host.
  let endpoint = resolved.url;
  if (!config.isCustomEndpoint && config.useQueueUrlAsEndpoint !== false) {
    try {
      const queueOrigin = new URL(new URL(url).origin);
      if (queueOrigin.origin !== endpoint.origin) endpoint = queueOrigin;
    } catch {
      // A queue URL whose host is not a valid URL host: the SDK keeps its endpoint then too.
    }
  }
  return new HttpSqsQueue(
    client,
    url,
    endpoint,
    resolved.region,
    () => client.config.credentials(),
    maxSockets,
  );
}
