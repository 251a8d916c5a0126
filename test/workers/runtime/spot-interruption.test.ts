import { describe, expect, it } from 'vitest';
import { Submitter } from '../../../client/submit.js';
import { resultKey } from '../../../core/envelope.js';
import { Imds } from '../../../workers/runtime/imds.js';
import { type SpotNotice, watchSpotInterruption } from '../../../workers/runtime/spot-interruption.js';
import { eventually, queueDepth } from '../../support/deployment.js';
import { fakeEndpoint } from '../../support/fake-http.js';
import { logLines, stopWorker } from '../../support/fault-helpers.js';
import { bundledWorker } from '../../support/worker-bundle.js';

const NOTICE = { action: 'terminate', time: '2026-12-02T05:20:00Z' };

/** IMDS with a switch: `down` refuses everything with 500, `notice` sets the Spot notice. */
async function fakeImds() {
  const state = { notice: false, down: false };
  const imds = await fakeEndpoint((req) => {
    if (state.down) return { status: 500, body: '' };
    if (req.method === 'PUT' && req.url === '/latest/api/token') return { body: 'tok-7' };
    if (req.headers['x-aws-ec2-metadata-token'] !== 'tok-7') return { status: 401, body: '' };
    if (req.url === '/latest/meta-data/spot/instance-action' && state.notice)
      return { body: JSON.stringify(NOTICE) };
    return { status: 404, body: '<?xml version="1.0"?><Error><Code>NotFound</Code></Error>' };
  });
  const gets = () => imds.requests.filter((r) => r.url === '/latest/meta-data/spot/instance-action');
  return { ...imds, state, gets };
}

describe('watchSpotInterruption', () => {
  it('polls with an IMDSv2 token, ignores 404s, and reports the notice once', async () => {
    const imds = await fakeImds();
    const notices: SpotNotice[] = [];
    const watch = watchSpotInterruption({
      imds: new Imds({ url: imds.url }),
      intervalMs: 20,
      onNotice: (n) => notices.push(n),
    });
    try {
      await eventually(() => imds.gets().length >= 3, 5000);
      expect(notices).toEqual([]);
      imds.state.notice = true;
      await eventually(() => notices.length > 0, 5000);
      const asked = imds.gets().length;
      await new Promise((r) => setTimeout(r, 100));
      expect(notices).toEqual([NOTICE]);
      expect(imds.gets().length).toBe(asked); // no polling after the notice
      expect(imds.requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
      expect(imds.requests.filter((r) => r.method === 'PUT')).toHaveLength(1); // the token is reused
      expect(imds.gets().every((r) => r.headers['x-aws-ec2-metadata-token'] === 'tok-7')).toBe(true);
    } finally {
      watch.stop();
      await imds.close();
    }
  });

  it('logs an IMDS outage once, keeps watching, and still sees the notice when IMDS is back', async () => {
    const imds = await fakeImds();
    imds.state.down = true;
    const logged: string[] = [];
    const notices: SpotNotice[] = [];
    const watch = watchSpotInterruption({
      imds: new Imds({ url: imds.url }),
      intervalMs: 20,
      onNotice: (n) => notices.push(n),
      log: (m) => logged.push(m),
    });
    try {
      await eventually(() => imds.requests.length >= 4, 5000);
      expect(logged).toEqual(['spot interruption watch: cannot read IMDS']);
      imds.state.down = false;
      imds.state.notice = true;
      await eventually(() => notices.length > 0, 5000);
      expect(logged).toEqual([
        'spot interruption watch: cannot read IMDS',
        'spot interruption watch: IMDS answers again',
      ]);
    } finally {
      watch.stop();
      await imds.close();
    }
  });
});

describe('the bundled worker on EC2 Spot', () => {
  const bundled = bundledWorker();

  it('drains on the interruption notice: finishes the short job, hands back the long one, exits 0', async () => {
    const imds = await fakeImds();
    const { d, w } = await bundled.start({
      FLOTILLA_DRAIN_SECONDS: '4',
      FLOTILLA_SPOT_NOTICE: 'imds',
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
    });
    try {
      const submitter = new Submitter({ queue: d.queue, store: d.store });
      const short = await submitter.submit('sleep', { ms: 1500 }, { id: 'short' });
      const long = await submitter.submit('sleep', { ms: 120_000 }, { id: 'long' });
      await eventually(() => logLines(w, 'job started').length === 2, 15_000);
      await eventually(() => imds.gets().length > 0, 10_000); // watching, and no notice yet
      expect(w.alive).toBe(true);
      imds.state.notice = true;
      expect(await w.exit).toBe(0);
      expect(logLines(w, 'interruption notice; draining as on SIGTERM')).toEqual([
        expect.objectContaining({ spot: 'terminate', at: NOTICE.time }),
      ]);
      expect(await d.store.head(resultKey(short.batch, 'short'))).toBeDefined();
      expect(await d.store.head(resultKey(long.batch, 'long'))).toBeUndefined();
      // Handed back at once for another worker, not hidden until its visibility timeout.
      expect(await queueDepth(d.queue)).toEqual({ visible: 1, inFlight: 0 });
    } finally {
      await stopWorker(w);
      await imds.close();
    }
  });

  it('does not watch where it was not asked to (Fargate, local runs)', async () => {
    const imds = await fakeImds();
    const { w } = await bundled.start({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url });
    try {
      await eventually(() => logLines(w, 'worker started').length > 0, 15_000);
      imds.state.notice = true;
      await new Promise((r) => setTimeout(r, 1000));
      expect(imds.requests).toEqual([]);
      expect(w.alive).toBe(true);
    } finally {
      expect(await stopWorker(w)).toBe(0);
      await imds.close();
    }
  });
});
