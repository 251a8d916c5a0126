/**
 * Downloads spread over worker threads. One thread spends most of an export's time in request and
 * file-system calls (about 0.2 ms of CPU per small object for the GET, as much again for the file),
 * so a bucket of many small objects is CPU-bound on one core. Each thread has its own lean reader
 * and writes its files itself; the main thread keeps the listing, the journal and the progress.
 *
 * A thread is started from the bundle (transfer-worker.mjs beside this chunk), or from source
 * through tsx (ts-worker.mjs) when Flotilla runs from its TypeScript.
 */
import { Worker } from 'node:worker_threads';
import type { Listed } from './plan.js';
import type { Credentials } from './s3-http.js';
import type { DownloadOptions, Fetched } from './transfer.js';

export interface ThreadInit {
  /** The bucket's address and signing region (see HttpObjectReader). */
  readonly base: string;
  readonly region: string;
  readonly credentials: Credentials;
  /** The export folder. */
  readonly dir: string;
  readonly maxSockets: number;
  readonly download: Omit<DownloadOptions, 'onBytes'>;
}

export type ToThread =
  | { type: 'fetch'; id: number; src: Listed; path: string; replaces: boolean }
  | { type: 'credentials'; credentials: Credentials };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly status?: number;
}

export type FromThread =
  | { type: 'done'; id: number; fetched: Fetched }
  | { type: 'failed'; id: number; error: SerializedError }
  | { type: 'bytes'; n: number };

export function serializeError(err: unknown): SerializedError {
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    ...(e?.code ? { code: e.code } : {}),
    ...(e?.$metadata?.httpStatusCode ? { status: e.$metadata.httpStatusCode } : {}),
  };
}

/** An Error that classifyError and describeError read as they read the original. */
export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message) as Error & { code?: string; $metadata?: { httpStatusCode: number } };
  err.name = s.name;
  if (s.code) err.code = s.code;
  if (s.status) err.$metadata = { httpStatusCode: s.status };
  return err;
}

/** Just the three fields: the SDK's identity objects carry more than a thread message can. */
const plainCredentials = (c: Credentials): Credentials => ({
  accessKeyId: c.accessKeyId,
  secretAccessKey: c.secretAccessKey,
  ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
});

function threadScript(): { script: URL; entry: URL } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { script: new URL('./ts-worker.mjs', here), entry: new URL('./transfer-worker.ts', here) };
  }
  const entry = new URL('./transfer-worker.mjs', here);
  return { script: entry, entry };
}

interface Pending {
  resolve(f: Fetched): void;
  reject(e: unknown): void;
}

class Thread {
  readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;

  constructor(
    readonly worker: Worker,
    onBytes: (n: number) => void,
  ) {
    worker.on('message', (m: FromThread) => {
      if (m.type === 'bytes') return onBytes(m.n);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'done') p.resolve(m.fetched);
      else p.reject(deserializeError(m.error));
    });
    const fail = (err: Error) => {
      this.dead = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`transfer thread exited (code ${code})`)));
  }

  send(msg: ToThread, id?: number): Promise<Fetched> | undefined {
    if (this.dead) return id === undefined ? undefined : Promise.reject(this.dead);
    if (id === undefined) {
      this.worker.postMessage(msg);
      return undefined;
    }
    return new Promise<Fetched>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }
}

export class TransferThreads {
  private next = 0;

  private constructor(private readonly threads: Thread[]) {}

  static start(count: number, init: ThreadInit, onBytes: (n: number) => void): TransferThreads {
    const { script, entry } = threadScript();
    const threads = Array.from(
      { length: Math.max(1, count) },
      () =>
        new Thread(
          new Worker(script, {
            workerData: {
              entry: entry.href,
              init: { ...init, credentials: plainCredentials(init.credentials) },
            },
          }),
          onBytes,
        ),
    );
    return new TransferThreads(threads);
  }

  get size(): number {
    return this.threads.length;
  }

  /** Fetch one object into the folder (see fetchIntoFolder), on the thread with the least in flight. */
  fetch(src: Listed, path: string, replaces = false): Promise<Fetched> {
    let best = this.threads[0] as Thread;
    for (const t of this.threads) if (t.pending.size < best.pending.size) best = t;
    const id = ++this.next;
    return best.send({ type: 'fetch', id, src, path, replaces }, id) as Promise<Fetched>;
  }

  /** Hand every thread fresh credentials (temporary ones expire during long exports). */
  setCredentials(credentials: Credentials): void {
    for (const t of this.threads) t.send({ type: 'credentials', credentials: plainCredentials(credentials) });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
