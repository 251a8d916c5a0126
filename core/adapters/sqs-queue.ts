/**
 * The queue port on SQS. Every call is one AWS JSON 1.0 request signed by signed-client.ts at the
 * address the SDK client would use for the queue (its endpoint rules and its queue-URL rule), with
 * the client's credentials; the bodies of sent and received messages are checked against their
 * MD5, as the SDK does. Only GetQueueUrl, once per process, goes through the SDK itself.
 */
import { createHash } from 'node:crypto';
import { GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { EndpointAnswerError } from '../errors.js';
import type {
  EntryFailure,
  QueueMessage,
  QueuePort,
  ReceiveOptions,
  RedrivePolicy,
  SendEntry,
} from '../ports/queue.js';
import { parseRedrivePolicy } from '../ports/queue.js';
import { HttpServiceError, SignedClient, signedClientFor, withRetries } from '../transport/signed-client.js';

const THROTTLED = new Set(['ThrottlingException', 'RequestThrottled', 'ServiceUnavailable']);
const NO_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({});

/** A message's attributes as strings: all of them, or those named (some endpoints send all whatever was asked). */
function attributesOf(
  wire: Record<string, { StringValue?: string }>,
  names: readonly string[] | undefined,
): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  let any = false;
  for (const k of names ?? Object.keys(wire)) {
    const v = wire[k];
    if (!v) continue;
    out[k] = v.StringValue ?? '';
    any = true;
  }
  return any ? out : NO_ATTRIBUTES;
}

interface WireMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  Body?: string;
  MD5OfBody?: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: Record<string, { StringValue?: string }>;
}

type WireFailures = { Failed?: { Id?: string; Code?: string; Message?: string; SenderFault?: boolean }[] };

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function checkMd5(what: string, body: string, expected: string | undefined): void {
  if (expected !== undefined && md5(body) !== expected) {
    throw new HttpServiceError('InvalidChecksum', `${what}: body does not match its MD5`, 200);
  }
}

const toAttrs = (a?: Readonly<Record<string, string>>) =>
  a && Object.keys(a).length > 0
    ? Object.fromEntries(Object.entries(a).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]))
    : undefined;

const failures = (out: WireFailures): EntryFailure[] =>
  (out.Failed ?? []).map((f) => ({
    id: f.Id ?? '',
    code: f.Code ?? 'Unknown',
    message: f.Message ?? '',
    senderFault: f.SenderFault ?? false,
  }));

/** The address the SDK would send this queue's calls to: its endpoint, or the queue URL's host. */
async function queueEndpoint(client: SQSClient, url: string): Promise<SignedClient> {
  const signed = await signedClientFor(
    client,
    'sqs',
    { QueueUrl: url },
    ReceiveMessageCommand,
    `queue ${url}`,
  );
  const config = client.config as unknown as { isCustomEndpoint?: boolean; useQueueUrlAsEndpoint?: boolean };
  // The SDK's queue-URL rule: without an endpoint of its own, the client talks to the queue's host.
  if (config.isCustomEndpoint || config.useQueueUrlAsEndpoint === false) return signed;
  let origin: URL;
  try {
    origin = new URL(new URL(url).origin);
  } catch {
    return signed; // a queue URL whose host is not a valid URL host: the SDK keeps its endpoint too
  }
  if (origin.origin === signed.endpoint.origin) return signed;
  return new SignedClient(origin, signed.region, 'sqs', client);
}

export class SqsQueue implements QueuePort {
  private signed: Promise<SignedClient> | undefined;

  constructor(
    private readonly client: SQSClient,
    readonly url: string,
  ) {}

  async receive(opts: ReceiveOptions): Promise<QueueMessage[]> {
    const asked = opts.messageAttributes ?? true;
    // Which attributes: undefined for all of them, else those named (none for false).
    const names = asked === true ? undefined : asked === false ? [] : asked;
    const out = (await this.call(
      'ReceiveMessage',
      {
        QueueUrl: this.url,
        MaxNumberOfMessages: Math.max(1, Math.min(10, opts.maxMessages)),
        WaitTimeSeconds: opts.waitTimeSeconds,
        VisibilityTimeout: opts.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: names === undefined ? ['All'] : names.length > 0 ? names : undefined,
      },
      opts.abortSignal,
    )) as { Messages?: WireMessage[] };
    return (out.Messages ?? []).map((m) => {
      const body = m.Body ?? '';
      checkMd5(`message ${m.MessageId}`, body, m.MD5OfBody);
      return {
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
        sentAtMs: Number(m.Attributes?.SentTimestamp ?? Date.now()),
        // Some endpoints send every attribute whatever was asked: what was not asked for is dropped.
        attributes:
          m.MessageAttributes && names?.length !== 0
            ? attributesOf(m.MessageAttributes, names)
            : NO_ATTRIBUTES,
      };
    });
  }

  async sendBatch(entries: readonly SendEntry[]): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = (await this.call('SendMessageBatch', {
      QueueUrl: this.url,
      Entries: entries.map((e) => ({
        Id: e.id,
        MessageBody: e.body,
        MessageAttributes: toAttrs(e.attributes),
        DelaySeconds: e.delaySeconds,
      })),
    })) as WireFailures & { Successful?: { Id?: string; MD5OfMessageBody?: string }[] };
    const byId = new Map(entries.map((e) => [e.id, e.body]));
    for (const s of out.Successful ?? [])
      checkMd5(`sent entry ${s.Id}`, byId.get(s.Id ?? '') ?? '', s.MD5OfMessageBody);
    return failures(out);
  }

  async send(entry: Omit<SendEntry, 'id'>): Promise<string> {
    const out = (await this.call('SendMessage', {
      QueueUrl: this.url,
      MessageBody: entry.body,
      MessageAttributes: toAttrs(entry.attributes),
      DelaySeconds: entry.delaySeconds,
    })) as { MessageId?: string; MD5OfMessageBody?: string };
    checkMd5('sent message', entry.body, out.MD5OfMessageBody);
    return out.MessageId ?? '';
  }

  async deleteBatch(entries: readonly { id: string; receiptHandle: string }[]): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = await this.call('DeleteMessageBatch', {
      QueueUrl: this.url,
      Entries: entries.map((e) => ({ Id: e.id, ReceiptHandle: e.receiptHandle })),
    });
    return failures(out as WireFailures);
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.call('ChangeMessageVisibility', {
      QueueUrl: this.url,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds,
    });
  }

  async changeVisibilityBatch(
    entries: readonly { id: string; receiptHandle: string; seconds: number }[],
  ): Promise<EntryFailure[]> {
    if (entries.length === 0) return [];
    const out = await this.call('ChangeMessageVisibilityBatch', {
      QueueUrl: this.url,
      Entries: entries.map((e) => ({
        Id: e.id,
        ReceiptHandle: e.receiptHandle,
        VisibilityTimeout: e.seconds,
      })),
    });
    return failures(out as WireFailures);
  }

  async attributes(names: readonly string[] = ['All']): Promise<Record<string, string>> {
    const out = (await this.call('GetQueueAttributes', { QueueUrl: this.url, AttributeNames: names })) as {
      Attributes?: Record<string, string>;
    };
    return out.Attributes ?? {};
  }

  /** One AWS JSON 1.0 call, retried on throttling, server errors and dropped connections. */
  private async call(action: string, input: unknown, signal?: AbortSignal): Promise<unknown> {
    const signed = await this.endpoint();
    const body = JSON.stringify(input);
    return withRetries(
      () => this.post(signed, action, body, signal),
      (err) => err instanceof HttpServiceError && THROTTLED.has(err.name),
    );
  }

  private endpoint(): Promise<SignedClient> {
    this.signed ??= queueEndpoint(this.client, this.url).catch((err: unknown) => {
      this.signed = undefined; // resolved again on the next call
      throw err;
    });
    return this.signed;
  }

  private async post(signed: SignedClient, action: string, body: string, signal?: AbortSignal) {
    const res = await signed.request({
      method: 'POST',
      path: signed.endpoint.pathname || '/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
      body,
      ...(signal ? { signal } : {}),
    });
    const text = await res.body.text();
    const status = res.statusCode;
    let out: Record<string, unknown> = {};
    let parsed = true;
    try {
      out = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = false;
      if (status < 300)
        throw new HttpServiceError('InvalidResponse', `${action}: the reply is not JSON`, status);
    }
    if (status >= 200 && status < 300) return out;
    // "com.amazonaws.sqs#QueueDoesNotExist" -> QueueDoesNotExist
    const header = res.headers['x-amzn-query-error'];
    if (!header && (!parsed || out.__type === undefined || (status >= 300 && status < 400))) {
      // No SQS error reply (an HTML page, an empty 5xx, a redirect): say what answered, and to what.
      throw EndpointAnswerError.of(
        status,
        res.headers,
        { operation: action, method: 'POST', target: this.url, hasKey: false },
        new Error(
          `${action}: the reply is not valid JSON with an SQS error type: ${JSON.stringify(text.slice(0, 200))}`,
        ),
      );
    }
    const type = String(out.__type ?? (typeof header === 'string' ? header : `Http${status}`));
    const code = type.split('#').pop()?.split(';')[0] ?? type;
    throw new HttpServiceError(
      code,
      String(out.message ?? out.Message ?? `${action} failed (HTTP ${status})`),
      status,
    );
  }
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
