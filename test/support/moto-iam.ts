/**
 * The roles of a synthesized primary stack, taken from its template as CloudFormation would
 * deploy them, and given to IAM users on a moto_server that enforces IAM: the policy documents
 * are the synthesized ones, with the bucket, queue and stack references resolved to a test's
 * names.
 */

import { join } from 'node:path';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import type { Stack } from 'aws-cdk-lib';
import { clientConfig } from '../../core/aws.js';
import { type Emulator, startMoto } from './emulators.js';

/**
 * moto_server through test/support/moto-enforcing.py, which keeps a request's query string as
 * sent for moto's signature check (without it, enforcement refuses every listing with a prefix).
 */
export function startEnforcingMoto() {
  return startMoto(['python3', join(import.meta.dirname, 'moto-enforcing.py')]);
}

/** moto's account and region: the ARNs the synthesized policies resolve to. */
export const MOTO_ACCOUNT = '123456789012';
export const MOTO_REGION = 'us-east-1';

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: PolicyStatement[];
}

/** What the references in a template stand for: logical id → physical name or ARN. */
export interface Physical {
  /** `Ref` of a resource or a pseudo parameter (AWS::Region...). */
  readonly ref: Readonly<Record<string, string>>;
  /** `Fn::GetAtt [id, 'Arn']`. */
  readonly arn: Readonly<Record<string, string>>;
}

/** Resolve Ref, Fn::GetAtt, Fn::Join and Fn::Sub; anything else fails, so nothing passes unread. */
export function resolve(value: unknown, physical: Physical): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, physical));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  const lookup = (table: Readonly<Record<string, string>>, id: string, what: string) => {
    const v = table[id];
    if (v === undefined) throw new Error(`no physical value for ${what} ${id}`);
    return v;
  };
  if (entries.length === 1 && key === 'Ref') return lookup(physical.ref, arg as string, 'Ref');
  if (entries.length === 1 && key === 'Fn::GetAtt') {
    const [id, attr] = arg as [string, string];
    if (attr !== 'Arn') throw new Error(`Fn::GetAtt ${id}.${attr} is not resolved here`);
    return lookup(physical.arn, id, 'Fn::GetAtt');
  }
  if (entries.length === 1 && key === 'Fn::Join') {
    const [sep, parts] = arg as [string, unknown[]];
    return parts.map((p) => resolve(p, physical)).join(sep);
  }
  if (entries.length === 1 && key === 'Fn::Sub') {
    return (arg as string).replace(/\$\{([^}]+)\}/g, (_, id: string) => lookup(physical.ref, id, 'Ref'));
  }
  if (entries.length === 1 && key?.startsWith('Fn::')) throw new Error(`${key} is not resolved here`);
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, physical)]));
}

/** Every policy statement attached to role `roleLogicalId` in `template`, resolved. */
export function rolePolicy(template: Record<string, unknown>, roleLogicalId: string, physical: Physical) {
  const resources = (template as { Resources: Record<string, { Type: string; Properties: never }> })
    .Resources;
  const statements: PolicyStatement[] = [];
  for (const res of Object.values(resources)) {
    if (res.Type !== 'AWS::IAM::Policy') continue;
    const props = res.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: PolicyStatement[] };
    };
    if (!props.Roles.some((r) => r.Ref === roleLogicalId)) continue;
    statements.push(...(resolve(props.PolicyDocument.Statement, physical) as PolicyStatement[]));
  }
  if (statements.length === 0) throw new Error(`role ${roleLogicalId} has no policy in the template`);
  return { Version: '2012-10-17', Statement: statements } satisfies PolicyDocument;
}

/**
 * IAM actions that moto (5.2) looks for under another name. AWS authorizes SendMessageBatch,
 * DeleteMessageBatch and ChangeMessageVisibilityBatch as their single-message actions (there are
 * no batch IAM actions) and HeadBucket as s3:ListBucket; moto looks for the operation's name.
 */
const MOTO_ACTION_NAMES: Readonly<Record<string, string>> = Object.freeze({
  'sqs:SendMessage': 'sqs:SendMessageBatch',
  'sqs:DeleteMessage': 'sqs:DeleteMessageBatch',
  'sqs:ChangeMessageVisibility': 'sqs:ChangeMessageVisibilityBatch',
  's3:ListBucket': 's3:HeadBucket',
});

/** For moto, a statement granting an action also names it as moto looks for it (MOTO_ACTION_NAMES). */
export function forMoto(doc: PolicyDocument): PolicyDocument {
  const batch = MOTO_ACTION_NAMES;
  return {
    ...doc,
    Statement: doc.Statement.map((s) => {
      const actions = [s.Action].flat();
      const extra = actions.flatMap((a) => (batch[a] ? [batch[a]] : []));
      return extra.length > 0 ? { ...s, Action: [...actions, ...extra] } : s;
    }),
  };
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalId(stack: Stack, c: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(c.node.defaultChild as never);
}

export interface UserCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** An IAM user on moto with `policy` as its only inline policy; call before `enforceIam`. */
export async function userWithPolicy(
  moto: Emulator,
  name: string,
  policy: PolicyDocument,
): Promise<UserCredentials> {
  const iam = new IAMClient(clientConfig(moto.config));
  try {
    await iam.send(new CreateUserCommand({ UserName: name }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: name,
        PolicyName: 'granted',
        PolicyDocument: JSON.stringify(policy),
      }),
    );
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    return {
      accessKeyId: key.AccessKey?.AccessKeyId ?? '',
      secretAccessKey: key.AccessKey?.SecretAccessKey ?? '',
    };
  } finally {
    iam.destroy();
  }
}

/**
 * From now on, moto authorizes every request against the caller's IAM policies (the same switch
 * as starting it with INITIAL_NO_AUTH_ACTION_COUNT, set once setup is done).
 */
export async function enforceIam(moto: Emulator): Promise<void> {
  const res = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  if (!res.ok) throw new Error(`moto refused to enforce IAM: ${res.status} ${await res.text()}`);
}

/** Environment variables that make a child process (worker, CLI) sign as `creds`. */
export function credentialsEnv(creds: UserCredentials): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
}
