import { spawn } from 'node:child_process';
import {
  childEnv,
  fillQueue,
  freshDeployment,
  startEmulatorProcess,
  stopChild,
  timeDrain,
} from './support.js';

const emu = await startEmulatorProcess();
const p = await freshDeployment(emu, 'prof');
const n = Number(process.argv[2] ?? 5000);
await fillQueue(emu, p, 'noop', n);
const child = spawn(
  process.execPath,
  ['--cpu-prof', '--cpu-prof-dir=/tmp/profq', 'node_modules/.cache/bench-probe/worker.js'],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: childEnv(emu.endpoint, {
      FLOTILLA_QUEUE_URL: p.queueUrl,
      FLOTILLA_BUCKET: p.bucket,
      FLOTILLA_WAIT_SECONDS: '1',
      FLOTILLA_CONCURRENCY: '100',
      FLOTILLA_LOG_LEVEL: 'warn',
    }),
  },
);
const d = await timeDrain(emu.sqs, p.queueUrl, n, { child });
console.log('msgs/s', Math.round(n / ((d.emptyMs - d.firstReceiveMs) / 1000)));
await stopChild(child, 5000);
await emu.stop();
