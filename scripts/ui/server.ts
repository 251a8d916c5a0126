/**
 * The dashboard's HTTP server (Hono on Node's http): the page, its script (bundled from
 * page/app.ts with uPlot when the server starts, served from here: no CDN, works offline) and
 * a small JSON API over a Dashboard. Bound to loopback unless asked otherwise; elsewhere every
 * API call needs the random token printed at start.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { FlotillaError, UsageError } from '../../core/errors.js';
import { JOB_STATUSES, type JobStatus } from './batches.js';
import type { Dashboard } from './dashboard.js';

export interface DashboardServerOptions {
  readonly dashboard: Dashboard;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Required on every API call (header x-flotilla-token). @default - a random one when `host` is not loopback, none on loopback */
  readonly token?: string;
}

export interface DashboardServer {
  /** The page's address (with ?token= when one is needed). */
  readonly url: string;
  readonly token: string | undefined;
  stop(): Promise<void>;
}

const PAGE_DIR = join(import.meta.dirname, 'page');
export const isLoopback = (host: string) => host === '127.0.0.1' || host === '::1' || host === 'localhost';

/** The page's script: page/app.ts and uPlot in one file, built once per process. */
let pageScript: Promise<string> | undefined;
async function buildPageScript(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [join(PAGE_DIR, 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    minify: true,
    target: 'es2020',
    logLevel: 'error',
  });
  return out.outputFiles[0]!.text;
}

async function assets(): Promise<Record<string, { body: string; type: string }>> {
  pageScript ??= buildPageScript();
  const require = createRequire(import.meta.url);
  const uplotCss = require.resolve('uplot/dist/uPlot.min.css');
  const [html, css, chartCss, icon, js] = await Promise.all([
    readFile(join(PAGE_DIR, 'index.html'), 'utf8'),
    readFile(join(PAGE_DIR, 'app.css'), 'utf8'),
    readFile(uplotCss, 'utf8'),
    readFile(join(PAGE_DIR, 'favicon.svg'), 'utf8'),
    pageScript,
  ]);
  return {
    '/': { body: html, type: 'text/html; charset=utf-8' },
    '/assets/app.css': { body: `${chartCss}\n${css}`, type: 'text/css; charset=utf-8' },
    '/assets/app.js': { body: js, type: 'text/javascript; charset=utf-8' },
    '/favicon.ico': { body: icon, type: 'image/svg+xml' },
  };
}

const sameToken = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function dashboardApp(
  dashboard: Dashboard,
  files: Awaited<ReturnType<typeof assets>>,
  opts: {
    token?: string;
    allowedHosts?: ReadonlySet<string>;
  },
): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    // A page elsewhere cannot reach this server through a name it controls (DNS rebinding).
    const host = c.req.header('host') ?? '';
    if (opts.allowedHosts && !opts.allowedHosts.has(host)) return c.text('unknown host', 421);
    await next();
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-frame-options', 'DENY');
  });
  app.use('/api/*', async (c, next) => {
    if (opts.token && !sameToken(c.req.header('x-flotilla-token') ?? '', opts.token))
      return c.json({ error: 'this dashboard needs its token: open the address it printed' }, 401);
    // Actions need a header a form on another site cannot send (no CORS preflight is answered).
    if (c.req.method !== 'GET' && c.req.header('x-flotilla-action') !== '1')
      return c.json({ error: 'actions need the x-flotilla-action header' }, 403);
    await next();
  });
  app.onError((err, c) => {
    const known = err instanceof FlotillaError || err instanceof UsageError || err instanceof SyntaxError;
    return c.json({ error: err.message }, known ? 400 : 500);
  });

  for (const [path, f] of Object.entries(files)) {
    app.get(path, (c) => {
      c.header('content-type', f.type);
      c.header('cache-control', 'no-cache');
      if (path === '/')
        c.header(
          'content-security-policy',
          "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
        );
      return c.body(f.body);
    });
  }

  app.get('/api/overview', async (c) => c.json(await dashboard.overview(Number(c.req.query('since') ?? 0))));
  app.get('/api/dlq', async (c) => c.json({ entries: await dashboard.deadLettered() }));
  app.get('/api/batches/:batch/jobs', async (c) => {
    const status = c.req.query('status');
    if (status && !JOB_STATUSES.includes(status as JobStatus))
      throw new UsageError(`status must be one of ${JOB_STATUSES.join(', ')}`);
    return c.json(
      await dashboard.jobs(c.req.param('batch'), {
        ...(status ? { status: status as JobStatus } : {}),
        offset: Math.max(0, Number(c.req.query('offset') ?? 0) || 0),
        limit: Math.max(1, Number(c.req.query('limit') ?? 100) || 100),
      }),
    );
  });
  app.get('/api/batches/:batch/jobs/:job', async (c) =>
    c.json(await dashboard.job(c.req.param('batch'), c.req.param('job'))),
  );
  app.post('/api/batches/:batch/cancel', async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { jobIds?: unknown };
    const ids = body.jobIds;
    if (ids !== undefined && !(Array.isArray(ids) && ids.every((i) => typeof i === 'string')))
      throw new UsageError('jobIds must be a list of job ids');
    return c.json({ requested: await dashboard.cancel(c.req.param('batch'), ids as string[] | undefined) });
  });
  app.post('/api/dlq/redrive', async (c) => c.json({ moved: await dashboard.redrive() }));
  app.post('/api/jobs', async (c) => {
    const body = (await c.req.json()) as {
      type?: unknown;
      payload?: unknown;
      batch?: unknown;
      queue?: unknown;
    };
    if (typeof body.type !== 'string' || body.type === '') throw new UsageError('give the job type');
    if (body.batch !== undefined && typeof body.batch !== 'string')
      throw new UsageError('batch must be a string');
    if (body.queue !== undefined && typeof body.queue !== 'string')
      throw new UsageError('queue must be a job queue name');
    return c.json(
      await dashboard.submit(
        body.type,
        body.payload ?? null,
        body.batch || undefined,
        body.queue || undefined,
      ),
    );
  });
  return app;
}

/** Start serving; resolves once the port is bound. */
export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const host = opts.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  const token = opts.token ?? (loopback ? undefined : randomBytes(18).toString('base64url'));
  const files = await assets();
  // Filled in once the port is known.
  const allowed = new Set<string>();
  const app = dashboardApp(opts.dashboard, files, {
    ...(token ? { token } : {}),
    ...(loopback ? { allowedHosts: allowed } : {}),
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      { fetch: app.fetch, port: opts.port ?? 0, hostname: host, overrideGlobalObjects: false },
      () => resolve(s),
    );
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new UsageError(`port ${opts.port} on ${host} is in use; pass --port N (0 picks a free one)`)
          : e,
      ),
    );
  });
  const port = (server.address() as AddressInfo).port;
  for (const h of ['127.0.0.1', 'localhost', '[::1]']) allowed.add(`${h}:${port}`);
  const shown = host === '::1' ? '[::1]' : host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shown}:${port}/${token ? `?token=${token}` : ''}`,
    token,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
