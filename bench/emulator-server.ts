/**
 * The embedded emulator (fauxqs) in a process of its own, so that benchmarks measure a consumer
 * and not the emulator sharing its event loop. Prints one JSON line with the port, then serves
 * until SIGTERM or until its parent closes stdin.
 *
 * It also counts the requests signed with the access key `bench-worker` (the worker under test;
 * the harness signs with another), by operation: `sqs:ReceiveMessage`, `s3:HEAD`, `s3:PUT`,
 * `s3:LIST`... A line `counts` on stdin prints them as one JSON line and starts again from zero.
 */
import { Server } from 'node:http';
import { createInterface } from 'node:readline';
import { startFauxqs } from 'fauxqs';

const COUNTED_ACCESS_KEY = 'bench-worker';

const counts: Record<string, number> = {};
const emit = Server.prototype.emit;
Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
  if (event === 'request') {
    const req = args[0] as { method?: string; url?: string; headers: Record<string, string | undefined> };
    if (req.headers.authorization?.includes(`Credential=${COUNTED_ACCESS_KEY}/`)) {
      const target = req.headers['x-amz-target'];
      const op = target
        ? `sqs:${target.split('.').pop()}`
        : `s3:${req.method === 'GET' && /[?&]list-type=/.test(req.url ?? '') ? 'LIST' : req.method}`;
      counts[op] = (counts[op] ?? 0) + 1;
    }
  }
  return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
} as typeof Server.prototype.emit;

const server = await startFauxqs({
  port: Number(process.env.FAUXQS_PORT ?? 0),
  logger: false,
  host: '127.0.0.1',
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
const stop = () => void server.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() !== 'counts') return;
    process.stdout.write(`${JSON.stringify({ counts })}\n`);
    for (const k of Object.keys(counts)) delete counts[k];
  })
  .on('close', stop);
