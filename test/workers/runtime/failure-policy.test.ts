/** The failure policy: retry with a growing delay, dead-letter, or leave to a drain. */
import { describe, expect, it } from 'vitest';
import { JobTimeoutError, UnrecoverableError } from '../../../core/errors.js';
import { decideFailure, type FailureFacts } from '../../../workers/runtime/failure-policy.js';

const policy = { maxReceiveCount: 5, retryBaseDelayMs: 4000, retryMaxDelayMs: 60_000 };
const failed = (over: Partial<FailureFacts> = {}): FailureFacts => ({
  error: new Error('boom'),
  attempt: 1,
  heldMs: 1000,
  stopping: false,
  cutShort: false,
  ...over,
});
const low = () => 0;
const high = () => 1;

describe('decideFailure', () => {
  it('retries a first failure after between half the base delay and the base delay', () => {
    expect(decideFailure(failed(), policy, low)).toEqual({ action: 'retry', delaySeconds: 2 });
    expect(decideFailure(failed(), policy, high)).toEqual({ action: 'retry', delaySeconds: 4 });
  });

  it('doubles the delay per attempt, up to the longest delay', () => {
    const delays = [1, 2, 3, 4].map((attempt) => decideFailure(failed({ attempt }), policy, high));
    expect(delays.map((d) => (d.action === 'retry' ? d.delaySeconds : d.action))).toEqual([4, 8, 16, 32]);
    const capped = decideFailure(failed({ attempt: 4 }), { ...policy, retryMaxDelayMs: 10_000 }, high);
    expect(capped).toEqual({ action: 'retry', delaySeconds: 10 });
  });

  it('dead-letters the failure of the last delivery the queue allows', () => {
    expect(decideFailure(failed({ attempt: 5 }), policy, high)).toEqual({ action: 'dead-letter' });
    expect(decideFailure(failed({ attempt: 7 }), policy, high)).toEqual({ action: 'dead-letter' });
  });

  it('counts attempts, not receives: a job whose earlier deliveries were lost with their worker still retries', () => {
    const decision = decideFailure(
      failed({ attempt: 2, receiveCount: 4 }),
      { ...policy, maxAttempts: 3 },
      high,
    );
    expect(decision).toEqual({ action: 'retry', delaySeconds: 8 });
    expect(
      decideFailure(failed({ attempt: 3, receiveCount: 4 }), { ...policy, maxAttempts: 3 }, high),
    ).toEqual({
      action: 'dead-letter',
    });
  });

  it("dead-letters a failure on the queue's last receive even with attempts left, since the queue would move it unrecorded", () => {
    expect(decideFailure(failed({ attempt: 1, receiveCount: 5 }), policy, high)).toEqual({
      action: 'dead-letter',
    });
  });

  it('dead-letters at once a job whose handler said "do not retry"', () => {
    const decision = decideFailure(failed({ error: new UnrecoverableError('bad row') }), policy, high);
    expect(decision).toEqual({ action: 'dead-letter' });
  });

  it('leaves a job that a stopping worker cut short to the queue, as no failure of the job', () => {
    const decision = decideFailure(failed({ stopping: true, cutShort: true, attempt: 5 }), policy, high);
    expect(decision).toEqual({ action: 'leave' });
  });

  it('still counts a timeout while the worker stops, and a failure of its own while it stops', () => {
    const timedOut = failed({ error: new JobTimeoutError('slow', 100), stopping: true, cutShort: true });
    expect(decideFailure(timedOut, policy, high)).toEqual({ action: 'retry', delaySeconds: 4 });
    expect(decideFailure(failed({ stopping: true }), policy, high)).toEqual({
      action: 'retry',
      delaySeconds: 4,
    });
  });

  it('never asks for a delay past the 12 hours SQS allows from the receipt', () => {
    const held = 43_190_000; // 10 s short of 12 hours
    const decision = decideFailure(failed({ heldMs: held }), { ...policy, retryBaseDelayMs: 60_000 }, high);
    expect(decision).toEqual({ action: 'retry', delaySeconds: 9 });
    expect(decideFailure(failed({ heldMs: 43_300_000 }), policy, high)).toEqual({
      action: 'retry',
      delaySeconds: 0,
    });
  });
});
