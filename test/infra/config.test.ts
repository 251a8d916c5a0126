import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../infra/config.js';
import { DEFAULT_DEPLOYMENT } from '../../infra/definitions.js';
import { DEFAULT_SCALING } from '../../infra/scaling.js';
import { cdkJsonContext } from './support.js';

const envs = (e: Record<string, unknown>) => ({ environments: e });

describe('environment configuration', () => {
  it('fills every default from definitions.ts and scaling.ts when an environment says nothing', () => {
    const c = resolveConfig(envs({ dev: {} }), 'dev');
    expect(c).toMatchObject({
      stackName: 'flotilla-dev',
      fleet: 'fargate',
      spotShare: 0.7,
      drainSeconds: 90,
      removeDataOnDelete: false,
      scaling: DEFAULT_SCALING,
      deployment: DEFAULT_DEPLOYMENT,
      dataPlane: { stackName: 'flotilla-dev-data-plane', bootstrapless: true },
    });
  });

  it('works with no Flotilla context at all, and reads the environments cdk.json ships', () => {
    expect(resolveConfig(undefined, 'dev').stackName).toBe('flotilla-dev');
    const shipped = cdkJsonContext().flotilla;
    for (const env of ['dev', 'prod']) expect(() => resolveConfig(shipped, env)).not.toThrow();
  });

  it('accepts the configuration as a JSON string, as `cdk -c flotilla=...` passes it', () => {
    const c = resolveConfig(JSON.stringify(envs({ ci: { fleet: 'ec2', spotShare: 0 } })), 'ci');
    expect(c.fleet).toBe('ec2');
    expect(c.spotShare).toBe(0);
  });

  it('lists every problem at once, each with its path', () => {
    let err: unknown;
    try {
      resolveConfig(
        envs({
          prod: { fleet: 'lambda', spotShare: 2, scaling: { maxWorkers: 0 }, queue: { maxReceiveCount: 0 } },
        }),
        'prod',
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('environments.prod.fleet');
    expect(msg).toContain('environments.prod.spotShare');
    // Schema errors come first; a second pass validates the shared definitions.
    const second = () =>
      resolveConfig(
        envs({ prod: { scaling: { maxWorkers: 0, minWorkrs: 1 }, queue: { maxReceiveCount: 0 } } }),
        'prod',
      );
    expect(second).toThrow(
      /environments\.prod\.scaling: invalid scaling policy: maxWorkers must be greater than 0/,
    );
    expect(second).toThrow(
      /environments\.prod\.queue\/bucket: .*maxReceiveCount must be a whole number from 1/,
    );
  });

  it("refuses a storage declaration the layout cannot take, naming each problem's path", () => {
    const bad = envs({
      dev: {
        storage: { prefixes: { images: { worker: ['read'] }, 'ok/': { robot: ['read'], worker: ['peek'] } } },
      },
    });
    const message = (() => {
      try {
        resolveConfig(bad, 'dev');
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toContain("environments.dev.storage.prefixes.'images': a prefix is letters");
    expect(message).toContain("environments.dev.storage.prefixes.'ok/'.robot: unknown principal");
    expect(message).toContain(
      "environments.dev.storage.prefixes.'ok/'.worker must be a list of read, write, list, delete",
    );
    const good = resolveConfig(
      envs({ dev: { storage: { prefixes: { 'images/': { worker: ['read'] } } } } }),
      'dev',
    );
    expect(good.storage?.prefixes?.['images/']).toEqual({ worker: ['read'] });
  });

  it('replaces the job queues and their mode from cdk.json, and refuses a set without default', () => {
    const c = resolveConfig(
      envs({
        dev: {
          queueMode: 'weighted',
          queues: [
            { name: 'default', priority: 1, weight: 4 },
            { name: 'reports', priority: 0, attributes: { visibilityTimeoutSeconds: 600 } },
          ],
        },
      }),
      'dev',
    );
    expect(c.queueMode).toBe('weighted');
    expect(c.deployment.queues?.map((q) => q.name)).toEqual(['default', 'reports']);
    expect(() => resolveConfig(envs({ dev: { queues: [{ name: 'reports', priority: 0 }] } }), 'dev')).toThrow(
      /one named 'default'/,
    );
  });

  it('names an unknown setting and an unknown environment', () => {
    expect(() => resolveConfig(envs({ dev: { scaling: { maxWorker: 3 } } }), 'dev')).toThrow(
      /environments\.dev\.scaling\.maxWorker: unknown setting/,
    );
    expect(() => resolveConfig(envs({ dev: { fleets: 'ec2' } }), 'dev')).toThrow(/Unrecognized key.*fleets/);
    expect(() => resolveConfig(envs({ dev: {} }), 'prod')).toThrow(
      "environment 'prod' is not in cdk context 'flotilla'.environments; known: dev (choose with -c env=NAME)",
    );
  });
});
