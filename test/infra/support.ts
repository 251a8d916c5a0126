/**
 * Helpers for the infra tests: an App with cdk.json's feature flags and Flotilla context, a
 * stub worker bundle (so tests do not depend on `npm run build:worker`), and a serializer that
 * scrubs asset hashes from templates before they are snapshotted.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** The context `cdk synth` gets from cdk.json: recommended feature flags and `flotilla`. */
export function cdkJsonContext(): Record<string, unknown> {
  return (
    JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
  ).context;
}

/** A fresh App in a temporary output folder, with cdk.json's context plus `extra`. */
export function newApp(extra: Record<string, unknown> = {}): App {
  return new App({
    outdir: mkdtempSync(join(tmpdir(), 'flotilla-cdk-')),
    context: { ...cdkJsonContext(), ...extra },
  });
}

/** A stack pinned to an account and region, as a deployed one is. */
export function newStack(app: App = newApp(), id = 'Test'): Stack {
  return new Stack(app, id, { env: { account: '123456789012', region: 'us-east-1' } });
}

/** A one-line stand-in for dist/worker.js. */
export function stubBundle(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bundle-'));
  const path = join(dir, 'worker.js');
  writeFileSync(path, 'process.exit(0);\n');
  return path;
}

/** An image that needs no asset, for stacks under test. */
export const TEST_IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim');

/** The template with every 64-hex asset hash replaced, so snapshots survive bundle changes. */
export function scrubAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
}

/** Every IAM statement in a template, flattened, with actions as arrays. */
export function iamStatements(
  template: Template,
): { Effect: string; Action: string[]; Resource: unknown; Condition?: unknown; Policy: string }[] {
  const out: { Effect: string; Action: string[]; Resource: unknown; Condition?: unknown; Policy: string }[] =
    [];
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [id, res] of Object.entries(template.findResources(type))) {
      const doc = res.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
      for (const st of doc.Statement) {
        const action = st.Action as string | string[];
        out.push({
          Effect: st.Effect as string,
          Action: Array.isArray(action) ? action : [action],
          Resource: st.Resource,
          ...(st.Condition ? { Condition: st.Condition } : {}),
          Policy: id,
        });
      }
    }
  }
  return out;
}
