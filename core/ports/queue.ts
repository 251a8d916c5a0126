/**
 * The queue port: what the runtime, the submitter and the sync engine need from a job queue.
 * core/adapters/sqs-queue.ts implements it on SQS; unit tests may substitute a fake.
 */

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
   * Ask for the messages' own attributes (`QueueMessage.attributes`): all of them, none, or only
   * those named. Without them each response is smaller and cheaper to parse: the worker, which
   * reads the body, the receive count and one attribute, asks for that one. @default true
   */
  readonly messageAttributes?: boolean | readonly string[];
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
