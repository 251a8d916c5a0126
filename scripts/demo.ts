/**
 * npm run demo — the main job, end to end on this machine with no AWS account:
 * start the embedded SQS+S3 emulator (or use --endpoint), create the queue, DLQ and bucket from
 * the same definitions the CDK stack uses, start worker processes from the esbuild bundle,
 * upload a generated corpus, fan out one wordcount job per document, fan in with a merge job,
 * check the merged counts against the corpus, and print the top words and the throughput.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
// What a user's code can reach goes through the package's entries (client/index.ts = flotilla/client,
// workers/index.ts = flotilla/worker); the rest is the demo's own plumbing.
import {
  type Connection,
  connect,
  EMULATOR_CREDENTIALS,
  type EndpointConfig,
  endpointFromEnv,
} from '../client/index.js';
import { pool } from '../client/submit.js';
import { s3Client, sqsClient } from '../core/aws.js';
import { describeError, formatBytes } from '../core/errors.js';
import { resourceNames } from '../infra/definitions.js';
import { countWords, type MergeResult } from '../workers/index.js';
import { buildWorker } from './build-worker.js';
import { type EmbeddedEmulator, startEmbeddedEmulator } from './emulator.js';
import { Progress } from './progress.js';
import { provisionDeployment } from './provision.js';

const USAGE = `usage: npm run demo [-- --workers N] [--documents N] [--endpoint URL]

  --workers N     worker processes to start (default 3)
  --documents N   documents in the generated corpus, about 20 KiB each (default 200)
  --endpoint URL  run against LocalStack, moto or another S3/SQS endpoint instead of the embedded one`;

/** A deterministic corpus: Zipf-distributed words from a made-up vocabulary. */
export function generateCorpus(documents: number, wordsPerDoc = 3000, seed = 42): string[] {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const syllables = [
    'ka',
    'lo',
    'mi',
    'ne',
    'ru',
    'sa',
    'ti',
    'vo',
    'ze',
    'qua',
    'dri',
    'fen',
    'gol',
    'har',
    'jun',
  ];
  const vocab: string[] = [];
  const seen = new Set<string>();
  while (vocab.length < 2000) {
    const n = 1 + Math.floor(rand() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += syllables[Math.floor(rand() * syllables.length)];
    if (!seen.has(w)) {
      seen.add(w);
      vocab.push(w);
    }
  }
  // Zipf(1): the cumulative weights of 1/rank, sampled by binary search.
  const cum: number[] = [];
  let total = 0;
  for (let r = 1; r <= vocab.length; r++) {
    total += 1 / r;
    cum.push(total);
  }
  const pick = () => {
    const x = rand() * total;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return vocab[lo]!;
  };
  const docs: string[] = [];
  for (let d = 0; d < documents; d++) {
    const lines: string[] = [];
    for (let i = 0; i < wordsPerDoc; i += 12) {
      const line: string[] = [];
      for (let k = 0; k < 12 && i + k < wordsPerDoc; k++) line.push(pick());
      lines.push(`${line.join(' ')}.`);
    }
    docs.push(`${lines.join('\n')}\n`);
  }
  return docs;
}

interface DemoOptions {
  workers: number;
  documents: number;
  endpoint?: string;
}

function parse(argv: string[]): DemoOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      workers: { type: 'string' },
      documents: { type: 'string' },
      endpoint: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const int = (v: string | undefined, name: string, def: number, max: number) => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new Error(`--${name} takes a whole number from 1 to ${max}`);
    return n;
  };
  return {
    workers: int(values.workers, 'workers', 3, 32),
    documents: int(values.documents, 'documents', 200, 100_000),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  };
}

export async function runDemo(opts: DemoOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const started = Date.now();
  let emulator: EmbeddedEmulator | undefined;
  let endpoint: EndpointConfig;
  if (opts.endpoint) {
    endpoint = endpointFromEnv(env, { endpoint: opts.endpoint });
    if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE)
      endpoint = { ...endpoint, credentials: { ...EMULATOR_CREDENTIALS } };
    say(`Using the endpoint ${opts.endpoint}`);
  } else {
    emulator = await startEmbeddedEmulator(0);
    endpoint = { endpoint: emulator.endpoint, region: 'us-east-1', credentials: { ...EMULATOR_CREDENTIALS } };
    say(`Started the embedded SQS + S3 emulator on ${emulator.endpoint}`);
  }
  const sqs = sqsClient(endpoint);
  const s3 = s3Client(endpoint);
  const workers: ChildProcess[] = [];
  let flotilla: Connection | undefined;
  try {
    const name = 'flotilla-demo';
    const p = await provisionDeployment({ sqs, s3 }, name);
    const names = resourceNames(name);
    say(
      `Created queues ${Object.values(names.queues)
        .map((q) => q.queue)
        .join(', ')} (each with its DLQ) and bucket ${p.bucket} from infra/definitions.ts`,
    );

    const { outfile, bytes } = await buildWorker();
    say(`Built the worker bundle ${outfile} (${formatBytes(bytes)})`);

    const logDir = join('.flotilla', 'demo');
    mkdirSync(logDir, { recursive: true });
    for (let i = 0; i < opts.workers; i++) {
      const log = createWriteStream(join(logDir, `worker-${i + 1}.log`));
      const child = spawn(process.execPath, [outfile], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...env,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          AWS_ENDPOINT_URL: endpoint.endpoint,
          AWS_REGION: endpoint.region ?? env.AWS_REGION ?? 'us-east-1',
          ...(endpoint.credentials
            ? {
                AWS_ACCESS_KEY_ID: endpoint.credentials.accessKeyId,
                AWS_SECRET_ACCESS_KEY: endpoint.credentials.secretAccessKey,
              }
            : {}),
          FLOTILLA_QUEUE_URL: p.queueUrl,
          // Every queue, highest priority first, as the fleet sets it.
          FLOTILLA_QUEUES: JSON.stringify(p.queues),
          FLOTILLA_BUCKET: p.bucket,
          FLOTILLA_WAIT_SECONDS: '2',
          FLOTILLA_CONCURRENCY: '8',
        },
      });
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      workers.push(child);
    }
    say(`Started ${opts.workers} worker processes (logs in ${logDir}/)`);

    flotilla = connect({ endpoint, queueUrl: p.queueUrl, bucket: p.bucket });
    const { store, submitter } = flotilla;
    const docs = generateCorpus(opts.documents);
    const expected = new Map<string, number>();
    for (const d of docs) countWords(d, expected);
    const run = `run-${Date.now().toString(36)}`;
    const keys = docs.map((_, i) => `inputs/${run}/doc-${String(i).padStart(5, '0')}.txt`);
    const corpusBytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
    await pool(
      keys.map((k, i) => [k, docs[i]!] as const),
      16,
      async ([k, text]) => {
        await store.put(k, text, { contentType: 'text/plain; charset=utf-8' });
      },
    );
    say(`Uploaded ${docs.length} documents (${formatBytes(corpusBytes)}) to s3://${p.bucket}/inputs/${run}/`);

    const mapStarted = Date.now();
    const map = await submitter.submitMany(
      'wordcount',
      keys.map((key) => ({ payload: { key } })),
    );
    say(`Fan-out: submitted ${keys.length} wordcount jobs as batch ${map.batch}`);
    const status = new Progress({ stream: process.stderr, label: '  map', total: keys.length, unit: 'done' });
    const mapOut = await map
      .waitForAll({
        pollMs: 200,
        fetchResults: false,
        timeoutMs: 10 * 60 * 1000,
        onProgress: (s) => status.set(s.done.size, `${s.deadLettered.size} failed`),
      })
      .finally(() => status.stop());
    const mapSecs = (Date.now() - mapStarted) / 1000;
    if (!mapOut.complete || mapOut.deadLettered.length > 0) {
      say(
        `The map step did not finish: ${mapOut.pending.length} pending, ${mapOut.deadLettered.length} failed`,
      );
      return 1;
    }
    say(`  ${keys.length} jobs in ${mapSecs.toFixed(2)} s: ${(keys.length / mapSecs).toFixed(1)} jobs/s`);

    const merge = await submitter.submit(
      'wordcount-merge',
      { batch: map.batch, jobIds: map.jobIds, top: 10 },
      { id: 'merge' },
    );
    const mergeOut = await merge.waitForAll<MergeResult>({ pollMs: 100, timeoutMs: 5 * 60 * 1000 });
    const result = mergeOut.results.get('merge')?.result;
    if (!result) {
      say(`The merge job failed: ${mergeOut.deadLettered[0]?.error.message ?? 'timed out'}`);
      return 1;
    }
    say(`Fan-in: merged ${result.inputs} results: ${result.words} words, ${result.distinct} distinct`);
    say('Top words:');
    for (const [w, n] of result.top) say(`  ${w.padEnd(12)} ${n}`);

    let expectedWords = 0;
    for (const n of expected.values()) expectedWords += n;
    const topOk = result.top.every(([w, n]) => expected.get(w) === n);
    if (result.words !== expectedWords || result.distinct !== expected.size || !topOk) {
      say(
        `MISMATCH: expected ${expectedWords} words, ${expected.size} distinct; got ${result.words}, ${result.distinct}`,
      );
      return 1;
    }
    say(`Verified: the merged counts match the corpus (${expectedWords} words)`);
    say(
      `Results: s3://${p.bucket}/results/${map.batch}/ (one per document), s3://${p.bucket}/${result.outputKey}`,
    );
    const total = (Date.now() - started) / 1000;
    say(
      `Done in ${total.toFixed(1)} s; map throughput ${(keys.length / mapSecs).toFixed(1)} jobs/s with ${opts.workers} workers`,
    );
    return 0;
  } finally {
    const exits = await stopWorkers(workers);
    if (exits.some((c) => c !== 0)) say(`warning: worker exit codes ${exits.join(', ')}`);
    else if (workers.length > 0) say(`Stopped ${workers.length} workers cleanly (SIGTERM, drained, exit 0)`);
    flotilla?.close();
    sqs.destroy();
    s3.destroy();
    await emulator?.stop();
  }
}

async function stopWorkers(workers: ChildProcess[]): Promise<(number | null)[]> {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise<number | null>((resolve) => {
          if (w.exitCode !== null) return resolve(w.exitCode);
          const kill = setTimeout(() => w.kill('SIGKILL'), 30_000);
          w.once('exit', (code) => {
            clearTimeout(kill);
            resolve(code);
          });
          w.kill('SIGTERM');
        }),
    ),
  );
}

const argv = process.argv.slice(2).filter((a) => a !== '--');
let opts: DemoOptions | undefined;
try {
  opts = parse(argv);
} catch (e) {
  process.stderr.write(`demo: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (!opts) {
  process.stdout.write(`${USAGE}\n`);
} else {
  runDemo(opts, process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(
        `demo: ${describeError(err, { endpoint: opts.endpoint ?? 'the embedded emulator' })}\n`,
      );
      process.exitCode = 1;
    },
  );
}
