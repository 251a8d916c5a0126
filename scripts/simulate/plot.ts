/**
 * A hand-written SVG of one comparison: waiting jobs (top panel) and workers paid for (bottom
 * panel) over time, both policies, with axes, labels and a legend. No dependencies.
 */
import type { Sample, SimulationResult } from './engine.js';
import { type Comparison, describePolicy } from './report.js';

const WIDTH = 900;
const HEIGHT = 560;
const LEFT = 70;
const RIGHT = 20;
const COLORS = ['#1f77b4', '#d62728'] as const;

interface Panel {
  readonly top: number;
  readonly height: number;
  readonly title: string;
  readonly value: (s: Sample) => number;
  /** Largest value within a bucket (backlog) or the last (workers, a step function). */
  readonly reduce: 'max' | 'last';
}

export function renderSvg(c: Comparison): string {
  const runs = [c.flotilla, c.baseline];
  const end = Math.max(...runs.map((r) => r.samples.at(-1)?.t ?? 0));
  const panels: Panel[] = [
    {
      top: 100,
      height: 170,
      title: 'Waiting jobs (visible messages)',
      value: (s) => s.visible,
      reduce: 'max',
    },
    { top: 336, height: 154, title: 'Workers (tasks paid for)', value: (s) => s.tasks, reduce: 'last' },
  ];
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + (t / end) * plotWidth;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${xmlEscape(`Scaling simulation: ${c.trace}`)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">${xmlEscape(`Scaling simulation: ${c.trace}`)}</text>`,
    `<text x="${LEFT}" y="42" fill="#444">${xmlEscape(c.description)}</text>`,
    `<text x="${LEFT}" y="58" fill="#444">${xmlEscape(describePolicy(c.policy))}</text>`,
  ];
  // Legend with the headline numbers.
  runs.forEach((r, i) => {
    const lx = LEFT + i * 410;
    out.push(
      `<line x1="${lx}" y1="78" x2="${lx + 24}" y2="78" stroke="${COLORS[i]}" stroke-width="2.5"/>`,
      `<text x="${lx + 30}" y="82">${xmlEscape(`${r.policy}: ${r.workerMinutes.toFixed(0)} worker-min, p95 ${r.p95LatencySeconds.toFixed(0)} s`)}</text>`,
    );
  });
  for (const panel of panels) {
    const ymax = niceMax(Math.max(1, ...runs.flatMap((r) => r.samples.map(panel.value))));
    const y = (v: number) => panel.top + panel.height - (v / ymax) * panel.height;
    out.push(
      `<text x="${LEFT}" y="${panel.top - 6}" font-weight="bold">${xmlEscape(panel.title)}</text>`,
      `<rect x="${LEFT}" y="${panel.top}" width="${plotWidth}" height="${panel.height}" fill="none" stroke="#999"/>`,
    );
    for (const v of ticks(ymax)) {
      out.push(
        `<line x1="${LEFT}" y1="${y(v).toFixed(1)}" x2="${LEFT + plotWidth}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`,
        `<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${formatCount(v)}</text>`,
      );
    }
    for (const t of timeTicks(end)) {
      const tx = x(t).toFixed(1);
      out.push(
        `<line x1="${tx}" y1="${panel.top + panel.height}" x2="${tx}" y2="${panel.top + panel.height + 4}" stroke="#999"/>`,
        `<text x="${tx}" y="${panel.top + panel.height + 16}" text-anchor="middle">${formatTime(t, end)}</text>`,
      );
    }
    runs.forEach((r, i) => {
      const points = downsample(r, panel, plotWidth)
        .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
        .join(' ');
      out.push(
        `<polyline fill="none" stroke="${COLORS[i]}" stroke-width="1.6" stroke-linejoin="round" ${i === 1 ? 'stroke-dasharray="5 3" ' : ''}points="${points}"/>`,
      );
    });
  }
  out.push(
    `<text x="${LEFT + plotWidth / 2}" y="${HEIGHT - 30}" text-anchor="middle">time since the trace started</text>`,
    `<text x="${LEFT}" y="${HEIGHT - 10}" fill="#666" font-size="11">Both fleets: the same jobs, job durations and task start-up delay; scaling decisions once a minute from CloudWatch-style datapoints.</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

/** At most about one point per pixel: per bucket the max (backlog) or the last value (workers), as steps. */
function downsample(r: SimulationResult, panel: Panel, pixels: number): [number, number][] {
  const s = r.samples;
  const per = Math.max(1, Math.ceil(s.length / pixels));
  const points: [number, number][] = [[0, panel.value(s[0] ?? ({ visible: 0, tasks: 0 } as Sample))]];
  for (let i = 0; i < s.length; i += per) {
    const bucket = s.slice(i, i + per);
    const v = panel.reduce === 'max' ? Math.max(...bucket.map(panel.value)) : panel.value(bucket.at(-1)!);
    const prev = points.at(-1)!;
    const t = bucket.at(-1)!.t;
    if (panel.reduce === 'last' && v !== prev[1]) points.push([bucket[0]!.t, prev[1]]);
    points.push([t, v]);
  }
  return points;
}

function niceMax(v: number): number {
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

function ticks(max: number): number[] {
  return [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
}

function timeTicks(end: number): number[] {
  const steps = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
  const step = steps.find((s) => end / s <= 12) ?? 21600;
  const out: number[] = [];
  for (let t = 0; t <= end; t += step) out.push(t);
  return out;
}

function formatTime(t: number, end: number): string {
  if (end <= 2 * 3600) return `${Math.round(t / 60)} min`;
  const h = Math.floor(t / 3600);
  const m = Math.round((t % 3600) / 60);
  return m === 0 ? `${h} h` : `${h} h ${m}`;
}

function formatCount(v: number): string {
  if (v >= 10_000) return `${(v / 1000).toFixed(0)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
