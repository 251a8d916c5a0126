import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../core/errors.js';
import { DEFAULT_SCALING, resolveScaling } from '../../../infra/scaling.js';
import { main } from '../../../scripts/commands/simulate.js';
import { simulate } from '../../../scripts/simulate/engine.js';
import { ecsPatternsController, flotillaController } from '../../../scripts/simulate/policies.js';
import { type Comparison, compare, p95Verdict } from '../../../scripts/simulate/report.js';
import {
  builtInTrace,
  burstTrace,
  parseQueueMix,
  parseTraceCsv,
  withQueueMix,
} from '../../../scripts/simulate/traces.js';

const tasksAt = (r: { samples: readonly { t: number; tasks: number }[] }, t: number) =>
  r.samples.find((s) => s.t >= t)?.tasks;

describe('several queues on one fleet', () => {
  it('scales on the backlog summed over the queues and serves the higher queue first', () => {
    const one = burstTrace(3000);
    const three = withQueueMix(one, parseQueueMix('urgent=10,default=30,bulk=60'));
    const single = simulate(one, DEFAULT_SCALING, flotillaController(DEFAULT_SCALING));
    const split = simulate(three, DEFAULT_SCALING, flotillaController(DEFAULT_SCALING));
    // The same jobs over three queues ask for the same fleet as over one: the backlog is their sum.
    expect(split.samples.map((x) => x.desired)).toEqual(single.samples.map((x) => x.desired));
    expect(split.workerMinutes).toBeCloseTo(single.workerMinutes, 0);
    expect(split.completed).toBe(3000);
    const [urgent, normal, bulk] = split.byQueue!;
    expect(urgent!.jobs + normal!.jobs + bulk!.jobs).toBe(3000);
    expect(urgent!.p95LatencySeconds).toBeLessThan(normal!.p95LatencySeconds);
    expect(normal!.p95LatencySeconds).toBeLessThan(bulk!.p95LatencySeconds);
  });

  it('refuses a malformed --queues mix with one line', () => {
    expect(() => parseQueueMix('urgent=1,bulk')).toThrow(UsageError);
    expect(() => parseQueueMix('urgent=1,urgent=2')).toThrow(/twice/);
  });
});

describe('the default policy against aws-ecs-patterns on the built-in traces', () => {
  const runs: Record<string, Comparison> = {};
  beforeAll(() => {
    for (const name of ['burst', 'daily', 'spike'] as const)
      runs[name] = compare(builtInTrace(name), DEFAULT_SCALING);
  });

  it('finishes every job under both policies (scale-in never kills a running job)', () => {
    for (const c of Object.values(runs)) {
      expect(c.flotilla.completed).toBe(c.flotilla.jobs);
      expect(c.baseline.completed).toBe(c.baseline.jobs);
    }
  });

  it('costs fewer worker-minutes than step scaling at an equal or better p95 on the burst and the spike', () => {
    for (const name of ['burst', 'spike']) {
      const c = runs[name]!;
      expect(c.flotilla.workerMinutes, name).toBeLessThan(c.baseline.workerMinutes);
      expect(c.flotilla.p95LatencySeconds, name).toBeLessThanOrEqual(c.baseline.p95LatencySeconds);
    }
  });

  it('costs under 75% of step scaling on the daily cycle with a p95 within 1% of it', () => {
    const c = runs.daily!;
    expect(c.flotilla.workerMinutes).toBeLessThan(0.75 * c.baseline.workerMinutes);
    expect(p95Verdict(c)).not.toBe('worse');
  });

  it('wakes the fleet from zero on the first job and returns to zero after the burst', () => {
    const r = runs.burst!.flotilla;
    expect(r.samples[0]!.tasks).toBe(0);
    expect(tasksAt(r, 61)).toBeGreaterThanOrEqual(DEFAULT_SCALING.wakeWorkers);
    expect(r.peakTasks).toBe(DEFAULT_SCALING.maxWorkers);
    expect(r.samples.at(-1)!.tasks).toBe(0);
  });

  it('keeps one worker under step scaling and adds five once 500 jobs are visible', () => {
    const r = runs.burst!.baseline;
    expect(r.samples[0]!.tasks).toBe(1);
    expect(tasksAt(r, 61)).toBe(6);
    expect(r.samples.at(-1)!.tasks).toBe(1);
  });

  it('answers a sudden spike within two minutes (the surge step, before target tracking would)', () => {
    const r = runs.spike!.flotilla;
    expect(tasksAt(r, 3600 - 1)).toBeLessThanOrEqual(2);
    expect(tasksAt(r, 3600 + 121)).toBeGreaterThanOrEqual(8);
  });
});

describe('the simulator reads the policy from infra/scaling.ts', () => {
  const burst = burstTrace(2000);

  it('caps the fleet at maxWorkers and drains slower with fewer workers', () => {
    const small = resolveScaling({ maxWorkers: 4 });
    const a = simulate(burst, DEFAULT_SCALING, flotillaController(DEFAULT_SCALING));
    const b = simulate(burst, small, flotillaController(small));
    expect(b.peakTasks).toBe(4);
    expect(b.drainSeconds).toBeGreaterThan(a.drainSeconds);
  });

  it('a higher acceptable latency clears a burst with fewer worker-minutes and a later p95', () => {
    const tight = resolveScaling({ acceptableLatencySeconds: 10 });
    const loose = resolveScaling({ acceptableLatencySeconds: 300 });
    const a = simulate(burst, tight, flotillaController(tight));
    const b = simulate(burst, loose, flotillaController(loose));
    expect(b.workerMinutes).toBeLessThan(a.workerMinutes);
    expect(b.p95LatencySeconds).toBeGreaterThan(a.p95LatencySeconds);
  });

  it('gives the same figures for the same seed and different ones for another', () => {
    const p = DEFAULT_SCALING;
    const one = simulate(builtInTrace('spike', 7), p, ecsPatternsController(p), { seed: 7 });
    const again = simulate(builtInTrace('spike', 7), p, ecsPatternsController(p), { seed: 7 });
    const other = simulate(builtInTrace('spike', 8), p, ecsPatternsController(p), { seed: 8 });
    expect(again.p95LatencySeconds).toBe(one.p95LatencySeconds);
    expect(again.workerMinutes).toBe(one.workerMinutes);
    expect(other.jobs).not.toBe(one.jobs);
  });

  it('charges start-up time: a slower task start costs more worker-minutes and latency', () => {
    const p = DEFAULT_SCALING;
    const fast = simulate(burst, p, flotillaController(p), { startupSeconds: 30 });
    const slow = simulate(burst, p, flotillaController(p), { startupSeconds: 180 });
    expect(slow.p95LatencySeconds).toBeGreaterThan(fast.p95LatencySeconds);
  });
});

describe('CSV traces', () => {
  it('reads a header and time_s,jobs rows, spreading each row until the next', () => {
    const t = parseTraceCsv('time_s,jobs\n0,60\n60,0\n120,30\n', 'x.csv');
    expect(t.arrivals.length).toBe(90);
    expect(t.arrivals[0]).toBeCloseTo(0.5);
    expect(t.arrivals[59]).toBeCloseTo(59.5);
    expect(t.arrivals[60]).toBeGreaterThanOrEqual(120);
  });

  it('rejects a malformed row with its line number and times that go backwards', () => {
    expect(() => parseTraceCsv('0,10\n5,ten\n', 'bad.csv')).toThrow(
      /bad\.csv line 2: expected 'time_s,jobs'/,
    );
    expect(() => parseTraceCsv('10,1\n5,1\n', 'bad.csv')).toThrow(/times must increase/);
    expect(() => parseTraceCsv('time_s,jobs\n', 'empty.csv')).toThrow(UsageError);
  });
});

describe('flotilla simulate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-sim-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) =>
      new Writable({
        write(chunk, _enc, cb) {
          f(String(chunk));
          cb();
        },
      });
    const code = await main({
      argv,
      env: {},
      out: sink((s) => (out += s)),
      err: sink((s) => (err += s)),
    });
    return { code, out, err };
  };

  it('prints both policies side by side and writes an SVG plot of a CSV trace', async () => {
    const csv = join(dir, 'trace.csv');
    await writeFile(csv, 'time_s,jobs\n0,3000\n');
    const svg = join(dir, 'plot.svg');
    const { code, out, err } = await run(['--trace', csv, '--out', svg]);
    expect(code).toBe(0);
    expect(out).toMatch(/worker-minutes\s+\d+\s+\d+/);
    expect(out).toContain('ecs-patterns default');
    expect(err).toContain('simulating 3,000 jobs');
    const plot = await readFile(svg, 'utf8');
    expect(plot.startsWith('<svg')).toBe(true);
    expect(plot.match(/<polyline/g)?.length).toBe(4);
    expect(plot).toContain('Waiting jobs');
  });

  it('uses the deployed defaults, and a flag override changes the result', async () => {
    const csv = join(dir, 'small.csv');
    await writeFile(csv, '0,2000\n');
    const base = JSON.parse((await run(['--trace', csv, '--json'])).out);
    const expected = compare(parseTraceCsv('0,2000\n', csv), DEFAULT_SCALING);
    expect(base.flotilla.workerMinutes).toBeCloseTo(expected.flotilla.workerMinutes, 1);
    const capped = JSON.parse((await run(['--trace', csv, '--json', '--max-workers', '3'])).out);
    expect(capped.flotilla.peakWorkers).toBe(3);
    expect(capped.flotilla.p95LatencySeconds).toBeGreaterThan(base.flotilla.p95LatencySeconds);
  });

  it('refuses an unknown trace, a missing file, a non-SVG or unwritable output with one clear line', async () => {
    await expect(run(['--trace', 'weekly'])).rejects.toThrow(/unknown trace 'weekly'/);
    await expect(run(['--trace', join(dir, 'nope.csv')])).rejects.toThrow(/cannot read trace file .*ENOENT/);
    await expect(run(['--trace', 'burst', '--out', 'plot.png'])).rejects.toThrow(UsageError);
    await expect(run([])).rejects.toThrow(/--trace is required/);
    await expect(run(['--trace', 'burst', '--out', join(dir, 'missing', 'p.svg')])).rejects.toThrow(
      /cannot write the plot to .*ENOENT/,
    );
  });
});
