/** The second side of mirror and verify --against: `--to URL|aws` plus its own region/profile. */
import { type EndpointConfig, s3Client, sqsClient, validateEndpoint } from '../../core/aws.js';
import { UsageError } from '../../core/errors.js';
import type { LiveSide } from './describe.js';

export function liveSide(
  to: string,
  opts: { region?: string; profile?: string },
  env: NodeJS.ProcessEnv,
): LiveSide {
  const cfg: { -readonly [K in keyof EndpointConfig]: EndpointConfig[K] } = {};
  if (to !== 'aws') {
    try {
      validateEndpoint(to);
    } catch (err) {
      throw new UsageError(`${(err as Error).message}, or 'aws'`);
    }
    cfg.endpoint = to;
  }
  const region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region) cfg.region = region;
  if (opts.profile) cfg.profile = opts.profile;
  return { endpoint: cfg, sqs: sqsClient(cfg), s3: s3Client(cfg) };
}

/** The side named by a command's `--to`, `--to-region` and `--to-profile` flags. */
export function targetSide(values: Record<string, unknown>, env: NodeJS.ProcessEnv): LiveSide {
  const flag = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const region = flag('to-region');
  const profile = flag('to-profile');
  return liveSide(String(values.to), { ...(region ? { region } : {}), ...(profile ? { profile } : {}) }, env);
}

export function closeSide(side: LiveSide): void {
  side.sqs.destroy();
  side.s3.destroy();
}
