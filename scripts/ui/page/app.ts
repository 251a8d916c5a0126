/**
 * The dashboard page: polls the server's JSON API and redraws a few tables and one uPlot chart.
 * Every value from the API goes in through textContent, never as HTML. A batch's jobs are shown
 * a page at a time (the server slices them), so a batch of 10,000 jobs draws 100 rows.
 */
import uPlot from 'uplot';
import type { BatchSummary, JobDetail, JobRow, JobStatus } from '../batches.js';
import type { DlqEntry, Overview } from '../dashboard.js';
import type { QueueSample } from '../queue-history.js';

const params = new URLSearchParams(location.search);
const token = params.get('token') ?? '';
const REFRESH_MS = Math.max(500, Number(params.get('refresh') ?? 5000) || 5000);
const PAGE_SIZE = 100;
const STATUSES: JobStatus[] = ['queued', 'running', 'cancelling', 'retrying', 'done', 'failed', 'cancelled'];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type Child = Node | string | number | null | undefined;
function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children)
    if (c !== null && c !== undefined) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { 'x-flotilla-token': token };
  if (init.method && init.method !== 'GET') {
    headers['x-flotilla-action'] = '1';
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const data = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(data.error ?? `${res.status} ${res.statusText}`);
  return data;
}

function showProblem(err: unknown): void {
  const p = $('problem');
  if (err === undefined) p.hidden = true;
  else {
    p.hidden = false;
    p.textContent = err instanceof Error ? err.message : String(err);
  }
}

function fill(tableId: string, rows: HTMLElement[]): void {
  $(tableId)
    .querySelector('tbody')!
    .replaceChildren(...rows);
}

const bar = (f: number | null) =>
  f === null
    ? ''
    : h(
        'span',
        { class: 'bar', title: `${Math.round(f * 100)}%` },
        h('span', { style: `width:${(f * 100).toFixed(1)}%` }),
      );
const ago = (iso: string) => `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} s ago`;
const ms = (n: number | null) => (n === null ? '' : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`);

// ------------------------------------------------------------------ chart

let chart: uPlot | undefined;
let history: QueueSample[] = [];
const COLOURS = ['#d13438', '#2b88d8', '#107c10', '#8764b8', '#ca5010', '#038387'];

/** Per job queue (one colour each): visible (solid), in flight (dashed), its DLQ (dotted). */
function drawChart(samples: QueueSample[], queues: readonly string[]): void {
  history = [...history, ...samples].slice(-900);
  const at = (s: QueueSample, name: string) => s.queues.find((q) => q.name === name);
  const data: uPlot.AlignedData = [
    history.map((s) => s.t / 1000),
    ...queues.flatMap((name) => [
      history.map((s) => at(s, name)?.jobs.visible ?? null),
      history.map((s) => at(s, name)?.jobs.inFlight ?? null),
      history.map((s) => at(s, name)?.dlq?.visible ?? null),
    ]),
  ];
  if (!chart) {
    const el = $('chart');
    chart = new uPlot(
      {
        width: Math.max(300, el.clientWidth || 480),
        height: 180,
        series: [
          {},
          ...queues.flatMap((name, i) => {
            const stroke = COLOURS[i % COLOURS.length]!;
            return [
              { label: `${name} visible`, stroke, width: 2 },
              { label: `${name} in flight`, stroke, width: 2, dash: [6, 4] },
              { label: `${name} DLQ`, stroke, width: 1, dash: [2, 3] },
            ];
          }),
        ],
        axes: [{}, { size: 50 }],
      },
      data,
      el,
    );
  } else chart.setData(data);
}

// ------------------------------------------------------------------ overview

let lastSample = 0;
let selected: string | undefined;
let statusFilter: JobStatus | '' = '';
let offset = 0;
let openJob: string | undefined;

function renderOverview(o: Overview): void {
  const main = o.queues.find((q) => q.name === 'default') ?? o.queues[0];
  $('target').textContent = main?.url ?? '';
  $('updated').textContent = `updated ${new Date(o.at).toLocaleTimeString()}`;
  const q = (name: string, c: { visible: number; inFlight: number; delayed: number } | null) =>
    h(
      'tr',
      { 'data-queue': name },
      h('td', {}, name),
      h('td', { 'data-count': 'visible' }, c?.visible ?? '–'),
      h('td', { 'data-count': 'inFlight' }, c?.inFlight ?? '–'),
      h('td', { 'data-count': 'delayed' }, c?.delayed ?? '–'),
    );
  fill(
    'queues',
    o.queues.flatMap((c) => [q(c.name, c), ...(c.dlq ? [q(`${c.name} DLQ`, c.dlq)] : [])]),
  );
  drawChart(
    o.history.filter((s) => s.t > lastSample),
    o.queues.map((c) => c.name),
  );
  lastSample = o.history.at(-1)?.t ?? lastSample;
  const dlqs = o.queues.flatMap((c) => (c.dlq ? [c.dlq] : []));
  $('dlq-count').textContent =
    dlqs.length > 0 ? `${dlqs.reduce((n, d) => n + d.visible, 0)} message(s)` : '(none configured)';
  $('workers-count').textContent = `${o.workers.length} reporting`;
  fill(
    'workers',
    o.workers.map((w) =>
      h(
        'tr',
        { 'data-worker': w.worker },
        h('td', {}, w.worker),
        h('td', {}, ago(w.at)),
        h('td', {}, `${w.running.length}/${w.concurrency}`),
        h('td', {}, w.counters.done ?? 0),
        h('td', {}, w.counters.failed ?? 0),
        h('td', {}, w.types.join(', ')),
      ),
    ),
  );
  fill('batches', o.batches.map(batchRow));
  const sel = $<HTMLSelectElement>('submit-queue');
  if (sel.options.length === 0)
    for (const c of o.queues)
      sel.append(h('option', { value: c.name, ...(c === main ? { selected: '' } : {}) }, c.name));
}

function batchRow(b: BatchSummary): HTMLElement {
  const c = b.counts;
  const finished = c.done + c.failed + c.cancelled;
  const open = h('a', { 'data-action': 'open' }, b.batch);
  open.addEventListener('click', () => selectBatch(b.batch));
  const cancel = h('button', { type: 'button', class: 'danger', 'data-action': 'cancel' }, 'cancel');
  cancel.addEventListener('click', () => void cancelJobs(b.batch));
  if (b.cancelRequested === 'batch' || finished === b.total) cancel.setAttribute('disabled', '');
  return h(
    'tr',
    { 'data-batch': b.batch, ...(b.batch === selected ? { class: 'selected' } : {}) },
    h('td', {}, open),
    h('td', {}, b.type ?? ''),
    h('td', {}, b.total),
    h('td', { 'data-count': 'queued' }, c.queued),
    h('td', { 'data-count': 'running' }, c.running + c.cancelling + c.retrying),
    h('td', { 'data-count': 'done' }, c.done),
    h('td', { 'data-count': 'failed' }, c.failed),
    h('td', { 'data-count': 'cancelled' }, c.cancelled),
    h('td', {}, b.throughputPerSecond),
    h('td', {}, bar(b.total ? finished / b.total : 0)),
    h('td', {}, cancel),
  );
}

// ------------------------------------------------------------------ one batch

function selectBatch(batch: string): void {
  if (selected !== batch) {
    offset = 0;
    openJob = undefined;
    $('job-detail').hidden = true;
  }
  selected = batch;
  $('batch-section').hidden = false;
  $('batch-name').textContent = batch;
  void refreshJobs();
}

async function refreshJobs(): Promise<void> {
  if (!selected) return;
  const q = new URLSearchParams({ offset: String(offset), limit: String(PAGE_SIZE) });
  if (statusFilter) q.set('status', statusFilter);
  const page = await api<{ summary: BatchSummary; total: number; rows: JobRow[] }>(
    `/api/batches/${encodeURIComponent(selected)}/jobs?${q}`,
  );
  $('page-info').textContent =
    page.total === 0
      ? 'no jobs'
      : `${offset + 1}–${Math.min(offset + PAGE_SIZE, page.total)} of ${page.total}`;
  $<HTMLButtonElement>('prev').disabled = offset === 0;
  $<HTMLButtonElement>('next').disabled = offset + PAGE_SIZE >= page.total;
  $<HTMLButtonElement>('cancel-batch').disabled = page.summary.cancelRequested === 'batch';
  fill('jobs', page.rows.map(jobRow));
  if (openJob) await showJob(openJob);
}

function jobRow(r: JobRow): HTMLElement {
  const link = h('a', { 'data-action': 'detail' }, r.jobId);
  link.addEventListener('click', () => void showJob(r.jobId));
  const live = r.status === 'queued' || r.status === 'running' || r.status === 'retrying';
  const cancel = live
    ? h('button', { type: 'button', class: 'danger', 'data-action': 'cancel' }, 'cancel')
    : null;
  cancel?.addEventListener('click', () => void cancelJobs(selected!, [r.jobId]));
  return h(
    'tr',
    { 'data-job': r.jobId, 'data-status': r.status, ...(r.jobId === openJob ? { class: 'selected' } : {}) },
    h('td', {}, link),
    h('td', { class: `status-${r.status}` }, r.status),
    h('td', {}, r.attempt ?? ''),
    h('td', {}, ms(r.durationMs)),
    h(
      'td',
      { 'data-progress': r.progress === null ? '' : String(r.progress) },
      bar(r.progress),
      r.note ? ` ${r.note}` : '',
    ),
    h('td', {}, r.worker ?? ''),
    h('td', { class: 'error' }, r.error ?? ''),
    h('td', {}, cancel),
  );
}

async function showJob(jobId: string): Promise<void> {
  openJob = jobId;
  const d = await api<JobDetail>(
    `/api/batches/${encodeURIComponent(selected!)}/jobs/${encodeURIComponent(jobId)}`,
  );
  $('job-detail').hidden = false;
  $('job-name').textContent = `${d.jobId} (${d.status})`;
  $('job-payload').textContent = d.payload ?? '(not recorded)';
  const [title, body] = d.errorRecord
    ? ['error', d.errorRecord]
    : d.cancelled
      ? ['cancelled', d.cancelled]
      : ['result', d.status === 'done' ? d.result : '(none yet)'];
  $('job-outcome-title').textContent = title;
  $('job-outcome').textContent = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
}

// ------------------------------------------------------------------ actions

async function cancelJobs(batch: string, jobIds?: string[]): Promise<void> {
  const what = jobIds ? `job ${jobIds.join(', ')} of batch ${batch}` : `every job of batch ${batch}`;
  if (!params.has('noconfirm') && !confirm(`Cancel ${what}?`)) return;
  try {
    await api(`/api/batches/${encodeURIComponent(batch)}/cancel`, {
      method: 'POST',
      body: jobIds ? { jobIds } : {},
    });
    await refresh();
  } catch (err) {
    showProblem(err);
  }
}

async function refreshDlq(): Promise<void> {
  const { entries } = await api<{ entries: DlqEntry[] }>('/api/dlq');
  fill(
    'dlq',
    entries.map((e) =>
      h(
        'tr',
        { 'data-job': `${e.batch}/${e.jobId}` },
        h('td', {}, `${e.batch}/${e.jobId}`),
        h('td', {}, e.type ?? ''),
        h('td', {}, e.attempt),
        h('td', {}, ago(e.at)),
        h('td', { class: 'error' }, e.reason),
      ),
    ),
  );
}

function wire(): void {
  const filter = $<HTMLSelectElement>('status-filter');
  for (const s of STATUSES) filter.append(h('option', { value: s }, s));
  filter.addEventListener('change', () => {
    statusFilter = filter.value as JobStatus | '';
    offset = 0;
    void refreshJobs().catch(showProblem);
  });
  $('prev').addEventListener('click', () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    void refreshJobs().catch(showProblem);
  });
  $('next').addEventListener('click', () => {
    offset += PAGE_SIZE;
    void refreshJobs().catch(showProblem);
  });
  $('cancel-batch').addEventListener('click', () => void cancelJobs(selected!));
  $('redrive').addEventListener('click', async () => {
    const b = $<HTMLButtonElement>('redrive');
    b.disabled = true;
    try {
      const { moved } = await api<{ moved: number }>('/api/dlq/redrive', { method: 'POST', body: {} });
      $('redrive-result').textContent = `moved ${moved} message(s) back to their job queues`;
      await refresh();
    } catch (err) {
      showProblem(err);
    } finally {
      b.disabled = false;
    }
  });
  $<HTMLFormElement>('submit-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target as HTMLFormElement);
    try {
      let payload: unknown;
      try {
        payload = JSON.parse(String(form.get('payload') ?? 'null'));
      } catch (err) {
        throw new Error(`the payload is not valid JSON: ${(err as Error).message}`);
      }
      const batch = String(form.get('batch') ?? '');
      const queue = String(form.get('queue') ?? '');
      const out = await api<{ batch: string }>('/api/jobs', {
        method: 'POST',
        body: { type: form.get('type'), payload, ...(batch ? { batch } : {}), ...(queue ? { queue } : {}) },
      });
      $('submit-result').textContent = `submitted as batch ${out.batch}`;
      showProblem(undefined);
      await refresh();
    } catch (err) {
      showProblem(err);
    }
  });
}

async function refresh(): Promise<void> {
  const o = await api<Overview>(`/api/overview?since=${lastSample}`);
  renderOverview(o);
  await Promise.all([refreshJobs(), refreshDlq()]);
}

async function loop(): Promise<void> {
  try {
    await refresh();
    showProblem(undefined);
  } catch (err) {
    showProblem(err);
  }
  setTimeout(() => void loop(), REFRESH_MS);
}

wire();
void loop();
