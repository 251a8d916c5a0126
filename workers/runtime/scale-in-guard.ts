/**
 * Scale-in guards: keep the orchestrator from stopping this worker while it holds a job.
 *
 * - 'ecs': ECS task scale-in protection, through the ECS agent's endpoint
 *   (PUT $ECS_AGENT_URI/task-protection/v1/state). Needs ecs:UpdateTaskProtection on the task role.
 * - 'asg': EC2 Auto Scaling instance scale-in protection (SetInstanceProtection) for this
 *   instance, found through IMDSv2; the group name from `asgName`, the instance's
 *   `aws:autoscaling:groupName` tag in IMDS, or DescribeAutoScalingInstances.
 * - 'none': nothing (local runs, emulators).
 *
 * A failure to protect is logged and never thrown: the worker keeps working unprotected (the
 * drain on SIGTERM still finishes its jobs), rather than stopping.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingInstancesCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import { clientConfig, type EndpointConfig } from '../../core/aws.js';
import { NO_SCALE_IN_GUARD, type ScaleInGuard } from '../../core/ports/scale-in-guard.js';
import { Imds, requestText } from './imds.js';

export type ScaleInGuardKind = 'none' | 'ecs' | 'asg';

export interface ScaleInGuardOptions {
  readonly kind: ScaleInGuardKind;
  /** Endpoint configuration for the Auto Scaling client. */
  readonly endpoint: EndpointConfig;
  /** The ECS agent's URI (the ECS_AGENT_URI variable ECS sets in every task). */
  readonly ecsAgentUri?: string;
  /** The Auto Scaling group; found through IMDS when not given. */
  readonly asgName?: string;
  /**
   * How long ECS task protection lasts before ECS drops it by itself, in case the worker dies
   * while protected. The guard renews it at half this interval while busy. @default 60
   */
  readonly expiresInMinutes?: number;
  /** Base URL of the instance metadata service. @default 'http://169.254.169.254' */
  readonly imdsUrl?: string;
  /** Per-request timeout for the agent and IMDS. @default 2000 */
  readonly requestTimeoutMs?: number;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export function parseScaleInGuardKind(raw: string | undefined): ScaleInGuardKind {
  const v = (raw ?? 'none').trim().toLowerCase() || 'none';
  if (v === 'none' || v === 'ecs' || v === 'asg') return v;
  throw new Error(`FLOTILLA_SCALE_IN_GUARD must be one of none, ecs, asg; got '${raw}'`);
}

export function createScaleInGuard(opts: ScaleInGuardOptions): ScaleInGuard {
  const log = opts.log ?? (() => {});
  switch (opts.kind) {
    case 'none':
      return NO_SCALE_IN_GUARD;
    case 'ecs':
      if (!opts.ecsAgentUri) {
        log('scale-in guard: ECS_AGENT_URI is not set, so task protection is off', { guard: 'ecs' });
        return NO_SCALE_IN_GUARD;
      }
      return new SerializedGuard('ecs', log, new EcsTaskProtection(opts, opts.ecsAgentUri), renewalMs(opts));
    case 'asg':
      return new SerializedGuard('asg', log, new AsgInstanceProtection(opts), undefined);
    default:
      throw new Error(`unknown scale-in guard '${String(opts.kind)}'`);
  }
}

function renewalMs(opts: ScaleInGuardOptions): number {
  return (Math.max(1, opts.expiresInMinutes ?? 60) * 60_000) / 2;
}

interface Protector {
  set(enabled: boolean): Promise<void>;
}

/**
 * Orders calls (a quick busy → idle → busy must reach the service in that order), skips
 * calls that would not change the confirmed state, renews ECS protection while busy, and turns
 * every failure into a log line.
 */
class SerializedGuard implements ScaleInGuard {
  private chain: Promise<void> = Promise.resolve();
  private confirmed: boolean | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    private readonly log: NonNullable<ScaleInGuardOptions['log']>,
    private readonly protector: Protector,
    private readonly renewEveryMs: number | undefined,
  ) {}

  protect(enabled: boolean): Promise<void> {
    this.chain = this.chain.then(() => this.apply(enabled, false));
    return this.chain;
  }

  private async apply(enabled: boolean, renewal: boolean): Promise<void> {
    if (!renewal && this.confirmed === enabled) return;
    try {
      await this.protector.set(enabled);
      this.confirmed = enabled;
      this.log(`scale-in protection ${enabled ? 'on' : 'off'}${renewal ? ' (renewed)' : ''}`, {
        guard: this.name,
      });
    } catch (err) {
      this.confirmed = undefined;
      this.log(
        `scale-in guard: could not turn protection ${enabled ? 'on' : 'off'}: ${(err as Error).message}`,
        {
          guard: this.name,
          error: (err as Error).name,
        },
      );
    }
    this.scheduleRenewal(enabled);
  }

  private scheduleRenewal(enabled: boolean): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (!enabled || this.renewEveryMs === undefined) return;
    this.renewTimer = setTimeout(() => {
      this.chain = this.chain.then(() => (this.confirmed === false ? undefined : this.apply(true, true)));
    }, this.renewEveryMs);
    this.renewTimer.unref();
  }
}

class EcsTaskProtection implements Protector {
  constructor(
    private readonly opts: ScaleInGuardOptions,
    private readonly agentUri: string,
  ) {}

  async set(enabled: boolean): Promise<void> {
    const body: Record<string, unknown> = { ProtectionEnabled: enabled };
    if (enabled) body.ExpiresInMinutes = Math.max(1, Math.min(2880, this.opts.expiresInMinutes ?? 60));
    const text = await requestText(
      `${this.agentUri.replace(/\/+$/, '')}/task-protection/v1/state`,
      { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      this.opts.requestTimeoutMs ?? 2000,
    );
    // The agent answers 200 with either { protection } or { failure } / { error }.
    const out = JSON.parse(text || '{}') as {
      protection?: unknown;
      failure?: { Reason?: string; Arn?: string };
      error?: { Code?: string; Message?: string };
    };
    if (out.failure)
      throw new Error(`ECS refused task protection: ${out.failure.Reason ?? 'no reason given'}`);
    if (out.error)
      throw new Error(`ECS agent error ${out.error.Code ?? ''}: ${out.error.Message ?? ''}`.trim());
  }
}

class AsgInstanceProtection implements Protector {
  private readonly imds: Imds;
  private identity: Promise<{ instanceId: string; groupName: string }> | undefined;
  private client: AutoScalingClient | undefined;

  constructor(private readonly opts: ScaleInGuardOptions) {
    this.imds = new Imds({
      ...(opts.imdsUrl ? { url: opts.imdsUrl } : {}),
      ...(opts.requestTimeoutMs ? { timeoutMs: opts.requestTimeoutMs } : {}),
    });
  }

  private autoScaling(): AutoScalingClient {
    this.client ??= new AutoScalingClient(clientConfig(this.opts.endpoint));
    return this.client;
  }

  private async resolveIdentity(): Promise<{ instanceId: string; groupName: string }> {
    const instanceId = (await this.imds.get('instance-id'))?.trim();
    if (!instanceId) throw new Error('IMDS has no instance-id: this is not an EC2 instance');
    let groupName = this.opts.asgName;
    if (!groupName) {
      // Needs instance metadata tags on in the launch template; the fleet turns them on.
      groupName = await this.imds.get('tags/instance/aws:autoscaling:groupName').then(
        (t) => t?.trim() || undefined,
        () => undefined,
      );
    }
    if (!groupName) {
      const out = await this.autoScaling().send(
        new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
      );
      groupName = out.AutoScalingInstances?.[0]?.AutoScalingGroupName;
    }
    if (!groupName) throw new Error(`instance ${instanceId} is not in an Auto Scaling group`);
    return { instanceId, groupName };
  }

  async set(enabled: boolean): Promise<void> {
    this.identity ??= this.resolveIdentity();
    let id: { instanceId: string; groupName: string };
    try {
      id = await this.identity;
    } catch (err) {
      this.identity = undefined; // try again next time
      throw err;
    }
    await this.autoScaling().send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: id.groupName,
        InstanceIds: [id.instanceId],
        ProtectedFromScaleIn: enabled,
      }),
    );
  }
}
