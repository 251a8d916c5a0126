/**
 * The embedded emulator (fauxqs) in a process of its own, so that benchmarks measure a consumer
 * and not the emulator sharing its event loop. Prints one JSON line with the port, then serves
 * until SIGTERM or until its parent closes stdin.
 */
import { startFauxqs } from 'fauxqs';

const server = await startFauxqs({
  port: Number(process.env.FAUXQS_PORT ?? 0),
  logger: false,
  host: '127.0.0.1',
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
const stop = () => void server.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
