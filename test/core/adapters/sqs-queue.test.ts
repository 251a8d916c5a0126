/** SqsQueue against a real emulator over HTTP (fauxqs in-process). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDeployment } from '../../support/deployment.js';
import { type Emulator, startEmbedded } from '../../support/emulators.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmbedded();
});
afterAll(async () => emu?.stop());

describe('SqsQueue.receive', () => {
  it("returns a message's attributes, or leaves them out when asked to", async () => {
    const d = await freshDeployment(emu);
    await d.queue.send({ body: 'first', attributes: { 'flotilla-job-id': 'j1' } });
    await d.queue.send({ body: 'second', attributes: { 'flotilla-job-id': 'j2' } });
    const receiveOne = (messageAttributes?: boolean) =>
      d.queue.receive({
        maxMessages: 1,
        waitTimeSeconds: 1,
        visibilityTimeoutSeconds: 30,
        ...(messageAttributes === undefined ? {} : { messageAttributes }),
      });
    const [withAttributes] = await receiveOne();
    const [without] = await receiveOne(false);
    expect(withAttributes?.attributes).toEqual({
      'flotilla-job-id': withAttributes?.body === 'first' ? 'j1' : 'j2',
    });
    expect(without?.attributes).toEqual({});
    // Everything the worker needs is still there.
    expect([withAttributes?.body, without?.body].sort()).toEqual(['first', 'second']);
    expect(without?.receiveCount).toBe(1);
    expect(without?.receiptHandle).not.toBe('');
    expect(without?.sentAtMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('returns only the attributes asked for by name', async () => {
    const d = await freshDeployment(emu);
    await d.queue.send({ body: 'marked', attributes: { 'flotilla-job-id': 'j1', 'flotilla-resent': '1' } });
    await d.queue.send({ body: 'plain', attributes: { 'flotilla-job-id': 'j2' } });
    const got = await d.queue.receive({
      maxMessages: 10,
      waitTimeSeconds: 1,
      messageAttributes: ['flotilla-resent'],
    });
    const byBody = Object.fromEntries(got.map((m) => [m.body, m.attributes]));
    expect(byBody).toEqual({ marked: { 'flotilla-resent': '1' }, plain: {} });
  });
});
