/** The registry's isolation options: their defaults, their checks, and FLOTILLA_ISOLATION's text form. */
import { describe, expect, it } from 'vitest';
import { applyIsolationSpec, HandlerRegistry, isolationOf } from '../../../workers/handlers/registry.js';

const handler = async () => null;

describe('isolation options', () => {
  it("default to 'suspects', and to 'always' for a type with a memory limit", () => {
    const r = new HandlerRegistry()
      .register({ type: 'a', handler })
      .register({ type: 'b', memoryLimitMb: 64, handler });
    expect(isolationOf(r.get('a')!)).toEqual({ isolation: 'suspects', maxJobsPerChild: 100 });
    expect(isolationOf(r.get('b')!)).toEqual({
      isolation: 'always',
      memoryLimitMb: 64,
      maxJobsPerChild: 100,
    });
  });

  it('refuses every bad value in one error naming the type', () => {
    expect(() =>
      new HandlerRegistry().register({
        type: 'x',
        handler,
        isolation: 'never',
        memoryLimitMb: 8,
        maxJobsPerChild: 0,
      }),
    ).toThrow(
      "job type 'x': memoryLimitMb must be a whole number >= 16; memoryLimitMb needs a child process: isolation 'never' cannot enforce it; maxJobsPerChild must be a whole number >= 1",
    );
  });

  it('are set for every type, or per type, from FLOTILLA_ISOLATION text', () => {
    const r = new HandlerRegistry().register({ type: 'a', handler }).register({ type: 'b', handler });
    applyIsolationSpec(r, 'always', { maxJobsPerChild: 5 });
    expect(isolationOf(r.get('a')!)).toEqual({ isolation: 'always', maxJobsPerChild: 5 });
    applyIsolationSpec(r, 'a=never, b=suspects');
    expect(isolationOf(r.get('a')!).isolation).toBe('never');
    expect(isolationOf(r.get('b')!).isolation).toBe('suspects');
    expect(() => applyIsolationSpec(r, 'a=sometimes')).toThrow(
      "isolation 'sometimes' is not one of suspects, always, never",
    );
    expect(() => applyIsolationSpec(r, 'c=always')).toThrow(
      "cannot set isolation for 'c': no such job type (a, b)",
    );
    expect(r.types()).toEqual(['a', 'b']);
  });
});
