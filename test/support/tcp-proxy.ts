/**
 * A fault-injecting TCP proxy for tests: clients connect to 127.0.0.1:<port>, bytes flow to the
 * target unchanged. `refuse()` takes the network away as a dead host would look to a client
 * (the listener closes, so new connections get ECONNREFUSED, and every open connection is
 * reset); `restore()` listens again on the same port. The proxy closes itself after
 * `maxLifetimeMs`, so a failing test cannot leave it running.
 */
import { createServer, type Server, Socket } from 'node:net';

export interface TcpProxyOptions {
  readonly targetHost?: string;
  readonly targetPort: number;
  /** Close everything after this long, whatever the test does. @default 300000 */
  readonly maxLifetimeMs?: number;
}

export interface TcpProxy {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Connections accepted, and connections reset by refuse(). */
  readonly stats: { accepted: number; reset: number; outages: number };
  readonly refusing: boolean;
  /** Reset every open connection and stop listening: clients see ECONNRESET, then ECONNREFUSED. */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const open = new Set<Socket>();
  const stats = { accepted: 0, reset: 0, outages: 0 };
  let refusing = false;
  let closed = false;

  const onConnection = (client: Socket) => {
    stats.accepted++;
    const upstream = new Socket();
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    upstream.connect(opts.targetPort, targetHost, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  const resetAll = () => {
    for (const s of open) {
      stats.reset++;
      s.resetAndDestroy();
    }
    open.clear();
  };

  const port = await listen(0);
  const proxy: TcpProxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    stats,
    get refusing() {
      return refusing;
    },
    async refuse() {
      if (refusing || closed) return;
      refusing = true;
      stats.outages++;
      const closing = stopListening();
      resetAll();
      await closing;
    },
    async restore() {
      if (!refusing || closed) return;
      server = createServer(onConnection);
      await listen(port);
      refusing = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(lifetime);
      const closing = stopListening();
      resetAll();
      await closing;
    },
  };
  const lifetime = setTimeout(() => void proxy.close(), opts.maxLifetimeMs ?? 300_000);
  lifetime.unref();
  return proxy;
}
