/**
 * Keeps the orchestrator from stopping this worker while it holds a job: ECS task scale-in
 * protection on Fargate, instance scale-in protection in an Auto Scaling group, or nothing
 * (implementations in workers/runtime/scale-in-guard.ts). The runtime calls `protect(true)` when
 * it goes from idle to busy and `protect(false)` when it goes back to idle.
 */
export interface ScaleInGuard {
  readonly name: string;
  protect(enabled: boolean): Promise<void>;
}

export const NO_SCALE_IN_GUARD: ScaleInGuard = Object.freeze({
  name: 'none',
  async protect() {},
});
