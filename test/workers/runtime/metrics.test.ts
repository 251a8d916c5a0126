/**
 * The worker's stats lines: CloudWatch Embedded Metric Format on AWS (validated against the
 * format's JSON schema and its rules on target members), plain JSON elsewhere, with per-type
 * job durations fed by the runtime as jobs end.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { jsonLogger } from '../../../workers/runtime/logger.js';
import {
  JobTimings,
  METRICS_NAMESPACE,
  metricsFormat,
  StatsReporter,
} from '../../../workers/runtime/metrics.js';
import { eventually } from '../../support/deployment.js';
import { logLines, stopWorker } from '../../support/fault-helpers.js';
import { bundledWorker } from '../../support/worker-bundle.js';

const schema = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'emf.schema.json'), 'utf8'),
);
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

type Line = Record<string, unknown>;

/** The schema, then what the specification says of target members, which a schema cannot. */
function emfProblems(line: Line): string[] {
  if (!validate(line)) return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  const problems: string[] = [];
  const aws = line._aws as { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  for (const d of aws.CloudWatchMetrics) {
    for (const key of d.Dimensions.flat())
      if (typeof line[key] !== 'string') problems.push(`dimension ${key} is not a string member of the root`);
    for (const { Name } of d.Metrics) {
      const v = line[Name];
      const ok =
        (typeof v === 'number' && Number.isFinite(v)) ||
        (Array.isArray(v) && v.length <= 100 && v.every((x) => typeof x === 'number'));
      if (!ok) problems.push(`metric ${Name} is not a number (or array of numbers) on the root`);
    }
  }
  return problems;
}

function capture() {
  const lines: Line[] = [];
  const log = jsonLogger({ write: (l) => lines.push(JSON.parse(l) as Line) });
  return { lines, log };
}

const counters = (n: number) => ({
  received: 10 * n,
  receives: 2 * n,
  emptyReceives: n,
  done: 8 * n,
  failed: 2 * n,
  retried: n,
  deadLettered: n,
  duplicates: 0,
  cancelled: 0,
  released: 0,
  heartbeats: 3 * n,
  lostWorker: 0,
  isolated: 0,
  accounted: 0,
});

describe('the stats lines', () => {
  it('in EMF, carry the counters per interval and each job type, and validate against the schema', () => {
    const { lines, log } = capture();
    const timings = new JobTimings();
    const r = new StatsReporter({
      format: 'emf',
      log,
      queueName: 'prod-jobs',
      timings,
      now: () => 1_700_000_000_000,
    });
    r.report(counters(1), 4);
    timings.record('pi', 100, true);
    timings.record('pi', 300, true);
    timings.record('pi', 50, false);
    timings.record('echo', 2, true);
    r.report(counters(3), 0);

    for (const l of lines) expect(emfProblems(l), JSON.stringify(l)).toEqual([]);
    const stats = lines.filter((l) => l.msg === 'worker stats');
    expect(stats.map((l) => [l.JobsReceived, l.JobsDone, l.JobsDeadLettered, l.JobsRunning])).toEqual([
      [10, 8, 1, 4],
      [20, 16, 2, 0],
    ]);
    // The plain counters stay in the line, as they are without EMF.
    expect(stats[1]).toMatchObject({ received: 30, done: 24, running: 0, Queue: 'prod-jobs' });
    const pi = lines.find((l) => l.msg === 'job stats' && l.type === 'pi')!;
    expect(pi).toMatchObject({
      JobType: 'pi',
      JobsDone: 2,
      JobsFailed: 1,
      JobDuration: 150,
      JobDurationMax: 300,
    });
    expect(pi._aws).toMatchObject({
      Timestamp: 1_700_000_000_000,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['Queue', 'JobType']] }],
    });
    expect(lines.filter((l) => l.msg === 'job stats').map((l) => l.type)).toEqual(['pi', 'echo']);
    // The check itself: a line that lost a dimension member or a metric's number is refused.
    expect(emfProblems({ ...pi, Queue: undefined })).toContain(
      'dimension Queue is not a string member of the root',
    );
    expect(emfProblems({ ...pi, JobDuration: '150' })).toHaveLength(1);
    expect(emfProblems({ ...pi, _aws: { CloudWatchMetrics: [] } })).not.toEqual([]);
  });

  it('elsewhere are the same lines as plain JSON, with no EMF members', () => {
    const { lines, log } = capture();
    const timings = new JobTimings();
    timings.record('pi', 100, true);
    new StatsReporter({ format: 'json', log, queueName: 'q', timings }).report(counters(1), 2);
    expect(lines.map((l) => l.msg)).toEqual(['worker stats', 'job stats']);
    for (const l of lines) expect(Object.keys(l).filter((k) => k === '_aws' || /^[A-Z]/.test(k))).toEqual([]);
    expect(lines[0]).toMatchObject({ received: 10, done: 8, running: 2 });
    expect(lines[1]).toMatchObject({ type: 'pi', done: 1, failed: 0, avgMs: 100, maxMs: 100 });
  });

  it('are EMF inside an ECS task or when asked, plain JSON otherwise, and refuse a typo', () => {
    expect(metricsFormat(undefined, true)).toBe('emf');
    expect(metricsFormat(undefined, false)).toBe('json');
    expect(metricsFormat('EMF', false)).toBe('emf');
    expect(metricsFormat('json', true)).toBe('json');
    expect(() => metricsFormat('cloudwatch', false)).toThrow(
      "FLOTILLA_METRICS must be emf or json; got 'cloudwatch'",
    );
  });
});

describe('the bundled worker with FLOTILLA_METRICS=emf', () => {
  const bundled = bundledWorker();

  it('logs valid EMF counting the jobs it ran, done and failed, per type', async () => {
    const { d, w } = await bundled.start({
      FLOTILLA_METRICS: 'emf',
      FLOTILLA_STATS_SECONDS: '1',
    });
    try {
      const submitter = new Submitter({ queue: d.queue, store: d.store });
      await submitter.submitMany(
        'pi',
        [1, 2, 3].map((i) => ({ payload: { samples: 1000 * i } })),
      );
      await submitter.submit('pi', { samples: -1 }); // refused by the handler: to the DLQ
      const piStats = () => logLines(w, 'job stats').filter((l) => l.JobType === 'pi');
      const sum = (k: string) => piStats().reduce((n, l) => n + (l[k] as number), 0);
      await eventually(() => sum('JobsDone') === 3 && sum('JobsFailed') === 1, 30_000);
      await eventually(
        () => logLines(w, 'worker stats').some((l) => (l.JobsDeadLettered as number) > 0),
        10_000,
      );
    } finally {
      expect(await stopWorker(w)).toBe(0);
    }
    const emfLines = w.lines.filter((l) => '_aws' in l);
    expect(emfLines.length).toBeGreaterThan(1);
    for (const l of emfLines) expect(emfProblems(l), JSON.stringify(l)).toEqual([]);
    const stats = logLines(w, 'worker stats');
    expect(stats.reduce((n, l) => n + (l.JobsReceived as number), 0)).toBe(4);
  });
});
