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

export function closeSide(side: LiveSide): void {
  side.sqs.destroy();
  side.s3.destroy();
}
