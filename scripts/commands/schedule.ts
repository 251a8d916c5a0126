/** flotilla schedule add|list|remove: recurring jobs, as records in the data bucket. */
import { addSchedule, listDelayed, listSchedules, removeSchedule } from '../../client/schedule.js';
import { FlotillaError, UsageError } from '../../core/errors.js';
import { cronOf } from '../../core/schedule.js';
import { closeTarget, openStore, resolveTarget } from '../target.js';
import { parseCommand } from './args.js';
import type { CommandMain } from './types.js';

const USAGE = `usage: flotilla schedule add NAME --cron PATTERN --type TYPE [--payload JSON] [--queue Q] [--timezone TZ]
       flotilla schedule list [--json]
       flotilla schedule remove NAME

Recurring jobs. Each slot of a schedule makes one job, batch sched-NAME, job id its slot time in
UTC (20261224T010000Z): a slot runs once even when two timers race. 'flotilla scheduler' (or
'flotilla local --serve') fires them; see docs/scheduling.md.

  --cron PATTERN    five fields (minute hour day month weekday), or six with seconds first
  --type TYPE       the job type
  --payload JSON    the payload of every job (default null)
  --queue Q         the queue the jobs go to (default 'default')
  --timezone TZ     an IANA time zone the pattern is read in (default UTC)
  --json            list: print the records as JSON lines`;

export const main: CommandMain = async ({ argv, env, err, out }) => {
  const { values, positionals, help } = parseCommand<{
    cron?: string;
    type?: string;
    payload?: string;
    queue?: string;
    timezone?: string;
    json?: boolean;
  }>(
    argv,
    {
      options: {
        cron: { type: 'string' },
        type: { type: 'string' },
        payload: { type: 'string' },
        queue: { type: 'string' },
        timezone: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage: USAGE,
    },
    out,
  );
  if (help) return 0;
  const [action, name, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (action !== 'add' && action !== 'list' && action !== 'remove')
    throw new UsageError('give an action: flotilla schedule add|list|remove; see --help');
  if (action !== 'list' && !name)
    throw new UsageError(`give the schedule's name: flotilla schedule ${action} NAME`);
  let payload: unknown = null;
  if (action === 'add') {
    if (!values.cron || !values.type)
      throw new UsageError('schedule add needs --cron PATTERN and --type TYPE');
    try {
      payload = values.payload === undefined ? null : JSON.parse(values.payload);
    } catch (e) {
      throw new UsageError(`--payload is not valid JSON (${(e as Error).message})`);
    }
  }
  const target = await resolveTarget(values, env);
  try {
    const store = openStore(target);
    if (action === 'add') {
      const s = await addSchedule(store, {
        name: name!,
        cron: values.cron!,
        type: values.type!,
        payload,
        ...(values.queue ? { queue: values.queue } : {}),
        ...(values.timezone ? { timezone: values.timezone } : {}),
      }).catch((e) => {
        throw e instanceof FlotillaError ? new UsageError(e.message) : e;
      });
      const next = cronOf(s.cron, s.timezone).nextRun();
      err.write(
        `schedule ${s.name} saved; next run ${next?.toISOString() ?? 'never'} (${s.timezone} ${s.cron})\n`,
      );
      return 0;
    }
    if (action === 'remove') {
      if (!(await removeSchedule(store, name!))) throw new UsageError(`there is no schedule named '${name}'`);
      err.write(`schedule ${name} removed; none of its slots fires from now on\n`);
      return 0;
    }
    const { schedules, invalid } = await listSchedules(store);
    const delayed = await listDelayed(store);
    for (const s of schedules) {
      const next = cronOf(s.cron, s.timezone).nextRun()?.toISOString() ?? 'never';
      out.write(
        values.json
          ? `${JSON.stringify({ ...s, nextRun: next })}\n`
          : `${s.name}\t${s.cron}\t${s.timezone}\t${s.type}\tqueue ${s.queue}\tnext ${next}\n`,
      );
    }
    for (const key of invalid) err.write(`warning: ${key} is not a valid schedule record; it never fires\n`);
    err.write(
      `${schedules.length} schedule(s); ${delayed.length} delayed job(s) waiting` +
        (delayed[0] ? `, next due ${delayed[0].dueAt}` : '') +
        '\n',
    );
    return 0;
  } finally {
    closeTarget(target);
  }
};
