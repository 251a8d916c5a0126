// Starts a TypeScript worker-thread entry from source (tests, FLOTILLA_FROM_SOURCE=1): a thread
// does not inherit the tsx loader of the thread that made it, so register tsx here first.
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
await import(workerData.entry);
