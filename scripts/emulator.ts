/** The embedded emulator (fauxqs, SQS + S3 in this process), for the demo and `flotilla local --serve`. */
import { startFauxqs } from 'fauxqs';

export interface EmbeddedEmulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startEmbeddedEmulator(port = 0): Promise<EmbeddedEmulator> {
  const server = await startFauxqs({ port, logger: false, host: '127.0.0.1' });
  return { endpoint: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}
