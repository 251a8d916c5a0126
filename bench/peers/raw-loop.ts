/**
 * The ceiling: N loops of ReceiveMessage (10) + DeleteMessageBatch on one SDK client, nothing
 * else — no parsing, no handler, no bookkeeping. What a hand-written consumer could reach.
 *
 *   node --import tsx bench/peers/raw-loop.ts QUEUE_URL LOOPS   (endpoint from AWS_ENDPOINT_URL)
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { endpointFromEnv, sqsClient } from '../../core/aws.js';

const [queueUrl, count = '8'] = process.argv.slice(2);
if (!queueUrl) {
  process.stderr.write('usage: raw-loop.ts QUEUE_URL [LOOPS]\n');
  process.exit(2);
}
const sqs = sqsClient(endpointFromEnv(process.env));
let stopping = false;

async function loop(): Promise<void> {
  while (!stopping) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const msgs = out.Messages ?? [];
    if (msgs.length === 0) continue;
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

const loops = Array.from({ length: Number(count) }, () =>
  loop().catch((err) => {
    process.stderr.write(`raw loop: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }),
);
const stop = () => {
  stopping = true;
  void Promise.all(loops).then(() => process.exit());
  setTimeout(() => process.exit(), 1500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
