/** A transfer thread (see transfer-threads.ts): fetches the objects it is sent into the export folder. */
import { parentPort, workerData } from 'node:worker_threads';
import { HttpObjectReader } from './s3-http.js';
import { fetchIntoFolder } from './transfer.js';
import type { FromThread, ThreadInit, ToThread } from './transfer-threads.js';
import { serializeError } from './transfer-threads.js';

const port = parentPort;
if (!port) throw new Error('transfer-worker runs as a worker thread');
const init = (workerData as { init: ThreadInit }).init;
let credentials = init.credentials;
const reader = new HttpObjectReader(
  new URL(init.base),
  init.region,
  async () => credentials,
  init.maxSockets,
);
const made = new Set<string>();

// Byte counts for the progress line, sent in lumps rather than per chunk.
let bytes = 0;
const flush = () => {
  if (bytes > 0) port.postMessage({ type: 'bytes', n: bytes } satisfies FromThread);
  bytes = 0;
};

port.on('message', (m: ToThread) => {
  if (m.type === 'credentials') {
    credentials = m.credentials;
    return;
  }
  fetchIntoFolder(reader, init.dir, m.path, m.src, made, {
    ...init.download,
    replaces: m.replaces,
    onBytes: (n) => {
      bytes += n;
      if (bytes >= 1024 * 1024) flush();
    },
  }).then(
    (fetched) => {
      flush();
      port.postMessage({ type: 'done', id: m.id, fetched } satisfies FromThread);
    },
    (err: unknown) => {
      flush();
      port.postMessage({ type: 'failed', id: m.id, error: serializeError(err) } satisfies FromThread);
    },
  );
});
