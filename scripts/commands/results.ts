/** flotilla results BATCH: what a batch has produced so far. */

import { BatchHandle } from '../../client/submit.js';
import { UsageError } from '../../core/errors.js';
import { closeTarget, openStore, resolveTarget } from '../target.js';
import { intOption, parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla results BATCH [--json] [--limit N]

Show a batch's results, cancelled jobs, running jobs with their progress and failures: one line
per job, then a summary.
  --json      one JSON object per job (the stored result or error record) on stdout
  --limit N   show at most N jobs (default 50; the summary counts all)`;

export const main: CommandMain = async ({ argv, env, out, err }) => {
  const { values, positionals, help } = parseCommand<{ json?: boolean; limit?: string }>(
    argv,
    { options: { json: { type: 'boolean' }, limit: { type: 'string' } }, usage: USAGE },
    out,
  );
  if (help) return 0;
  const [batch] = positionals;
  if (!batch) throw new UsageError('give the batch id: flotilla results BATCH');
  const limit = intOption(values.limit, 'limit', { min: 1 }) ?? 50;
  const target = await resolveTarget(values, env);
  try {
    const handle = new BatchHandle(openStore(target), batch);
    const s = await handle.status();
    const done = [...s.done].sort();
    if (done.length + s.deadLettered.size + s.retrying.size + s.cancelled.size + s.progress.size === 0) {
      err.write(`no results or errors recorded for batch ${batch} (yet)\n`);
      return 1;
    }
    let shown = 0;
    for (const id of done) {
      if (shown++ >= limit) break;
      const rec = await handle.result(id);
      if (!rec) continue;
      if (values.json) out.write(`${JSON.stringify(rec)}\n`);
      else out.write(`${id}  done    ${String(rec.durationMs).padStart(7)} ms  ${preview(rec.result)}\n`);
    }
    for (const id of [...s.cancelled].sort()) {
      if (shown++ >= limit) break;
      const rec = await handle.cancelled(id);
      if (values.json) out.write(`${JSON.stringify(rec ?? { jobId: id, status: 'cancelled' })}\n`);
      else out.write(`${id}  cancelled${rec?.wasRunning ? ' while running' : ' before it started'}\n`);
    }
    for (const p of [...s.progress.values()].sort((a, b) => a.jobId.localeCompare(b.jobId))) {
      if (shown++ >= limit) break;
      if (values.json) out.write(`${JSON.stringify({ ...p, status: 'running' })}\n`);
      else
        out.write(
          `${p.jobId}  running ${String(Math.round(p.fraction * 100)).padStart(3)}%` +
            `${p.note ? `  ${p.note}` : ''}  (attempt ${p.attempt}, reported ${p.at})\n`,
        );
    }
    for (const [id, rec] of [...s.deadLettered, ...s.retrying]) {
      if (shown++ >= limit) break;
      if (values.json) out.write(`${JSON.stringify(rec)}\n`);
      else
        out.write(
          `${id}  ${rec.final ? 'DLQ   ' : 'retry '}  attempt ${rec.attempt}  ${rec.error.name}: ${rec.error.message}\n`,
        );
    }
    err.write(
      `batch ${batch}: ${s.done.size} done, ${s.retrying.size} retrying, ${s.deadLettered.size} in DLQ, ` +
        `${s.cancelled.size} cancelled, ${s.progress.size} running with progress` +
        (shown > limit ? ` (first ${limit} shown; --limit N for more)` : '') +
        '\n',
    );
    return s.deadLettered.size > 0 ? 1 : 0;
  } finally {
    closeTarget(target);
  }
};

function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null';
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}
