/**
 * A fault-injecting TCP proxy for tests: clients connect to 127.0.0.1:<port>, bytes flow to the
 * target unchanged. `refuse()` takes the network away as a dead host would look to a client
 * (the listener closes, so new connections get ECONNREFUSED, and every open connection is
 * reset); `stall()` takes it away as lost packets would (connections stay open but nothing
 * moves either way, new ones hang after connecting); `restore()` brings it back (listening again
 * on the same port, or letting stalled bytes flow on, as TCP retransmission would). The proxy
 * closes itself after `maxLifetimeMs`, so a failing test cannot leave it running.
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
  /** Stop every byte in both directions, on open and new connections, without closing anything. */
  stall(): void;
  /** Listen again on the same port, or let stalled connections flow again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const open = new Set<Socket>();
  const stats = { accepted: 0, reset: 0, outages: 0 };
  let refusing = false;
  let stalled = false;
  let closed = false;

  // Forwarding by hand rather than pipe(): a piped stream resumes itself on 'drain', and a
  // stall must hold every byte until restore().
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!stalled) from.resume();
    });
    from.on('end', () => to.end());
  };

  const onConnection = (client: Socket) => {
    stats.accepted++;
    const upstream = new Socket();
    open.add(client);
    open.add(upstream);
    if (stalled) client.pause();
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
      forward(client, upstream);
      forward(upstream, client);
      if (stalled) upstream.pause();
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
    stall() {
      if (stalled || refusing || closed) return;
      stalled = true;
      stats.outages++;
      for (const s of open) s.pause();
    },
    async restore() {
      if (closed) return;
      if (stalled) {
        stalled = false;
        for (const s of open) s.resume();
      }
      if (refusing) {
        server = createServer(onConnection);
        await listen(port);
        refusing = false;
      }
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
