/**
 * The peer most Node users reach for: bbc/sqs-consumer, batchSize 10, `handleMessage` (its
 * documented way to work on messages in parallel), and N Consumers in one process as its
 * maintainers advise for more concurrency. The handler does nothing; each message is deleted.
 *
 *   node --import tsx bench/peers/sqs-consumer.ts QUEUE_URL CONSUMERS   (endpoint from AWS_ENDPOINT_URL)
 */
import { Consumer } from 'sqs-consumer';
import { endpointFromEnv, sqsClient } from '../../core/aws.js';

const [queueUrl, count = '1', mode = 'message'] = process.argv.slice(2);
if (!queueUrl) {
  process.stderr.write('usage: sqs-consumer.ts QUEUE_URL [CONSUMERS] [message|batch]\n');
  process.exit(2);
}
const sqs = sqsClient(endpointFromEnv(process.env));
const consumers = Array.from({ length: Number(count) }, () => {
  const c = Consumer.create({
    queueUrl,
    sqs,
    batchSize: 10,
    waitTimeSeconds: 1,
    ...(mode === 'batch'
      ? { handleMessageBatch: async (messages) => messages }
      : { handleMessage: async (message) => message }),
  });
  c.on('error', (err) => process.stderr.write(`sqs-consumer error: ${err.message}\n`));
  c.on('processing_error', (err) => process.stderr.write(`sqs-consumer processing error: ${err.message}\n`));
  return c;
});
for (const c of consumers) c.start();
const stop = () => {
  for (const c of consumers) c.stop();
  setTimeout(() => process.exit(0), 100);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
