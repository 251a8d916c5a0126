/**
 * The data bucket's layout, declared once: which key prefixes exist, what each holds, and who
 * may read, write, list or delete under it. The IAM grants of the CDK stacks (infra/), the
 * worker's own checks on `ctx.store` (workers/runtime/layout-store.ts) and docs/workers.md all
 * derive from this declaration, so a local run refuses what AWS would refuse.
 *
 * A deployment adds prefixes and buckets of its own in cdk.json (`storage.prefixes`,
 * `storage.buckets` of an environment); the fleet passes them to the worker as
 * FLOTILLA_STORAGE, and the same `extendLayout` merges them on both sides.
 *
 * Plain data and pure functions: the worker bundle, the CLI and the CDK app all import it.
 */

/** Who touches the data bucket. Each is one IAM role in the primary stack. */
export const PRINCIPALS = ['submitter', 'worker', 'exporter'] as const;
export type Principal = (typeof PRINCIPALS)[number];

/**
 * What a principal may do under a prefix. `read`: get and head objects. `write`: put objects,
 * single or multipart. `list`: list keys under the prefix (and so tell a missing key, 404, from
 * a refused one, 403). `delete`: delete objects.
 */
export const ACCESS = ['read', 'write', 'list', 'delete'] as const;
export type Access = (typeof ACCESS)[number];

/** Access per principal. A principal not named has none. */
export type Grants = Readonly<Partial<Record<Principal, readonly Access[]>>>;

export interface PrefixDeclaration {
  /** The key prefix, ending in '/'. */
  readonly prefix: string;
  /** What lives there, for docs and error messages. */
  readonly holds: string;
  readonly grants: Grants;
  /**
   * Per-job bookkeeping that nobody needs once the job's result has gone: the stack expires it
   * `resultsExpireDays` after it is written, as it does results (infra/definitions.ts).
   */
  readonly expires?: boolean;
}

/** A bucket other than the data bucket that a deployment's handlers use. */
export interface ExtraBucketDeclaration {
  readonly name: string;
  readonly grants: Grants;
}

export interface BucketLayout {
  readonly prefixes: readonly PrefixDeclaration[];
  /** Access to every key of the data bucket, whatever its prefix (the exporter's backup and restore). */
  readonly wholeBucket: Grants;
  readonly extraBuckets: readonly ExtraBucketDeclaration[];
}

/** The cdk.json setting (under an environment) that declares a deployment's own prefixes. */
export const PREFIX_SETTING = 'storage.prefixes';
/** The cdk.json setting (under an environment) that declares extra buckets. */
export const BUCKET_SETTING = 'storage.buckets';

/** The built-in layout: what the runtime, the CLI and the built-in handlers use. */
export const DATA_LAYOUT: BucketLayout = Object.freeze({
  prefixes: Object.freeze([
    {
      prefix: 'inputs/',
      holds: 'objects that jobs read (the wordcount texts); uploaded by the submitter, read by handlers',
      grants: { submitter: ['write'], worker: ['read'] },
    },
    {
      prefix: 'outputs/',
      holds: 'what handlers write besides their result (the merged word counts)',
      grants: { worker: ['write'], submitter: ['read', 'list'] },
    },
    {
      prefix: 'payloads/',
      holds: 'claim-check payloads too large for a queue message; written by the submitter',
      grants: { submitter: ['write'], worker: ['read'] },
      expires: true,
    },
    {
      prefix: 'results/',
      holds: "each job's result record; the worker checks it before running a job again",
      grants: { worker: ['read', 'write', 'list'], submitter: ['read', 'list'] },
      expires: true,
    },
    {
      prefix: 'errors/',
      holds:
        "each failed job's error record, which the worker reads back on a redelivery (to count attempts and spot a lost worker); a DLQ redrive deletes it",
      grants: { worker: ['read', 'write', 'list'], submitter: ['read', 'list', 'delete'] },
      expires: true,
    },
    {
      prefix: 'progress/',
      holds: "a running job's last progress report (ctx.progress), written at most every few seconds",
      grants: { worker: ['write'], submitter: ['read', 'list'] },
      expires: true,
    },
    {
      prefix: 'cancel/',
      holds: 'cancel requests for a batch or a job; workers list them once per heartbeat interval',
      grants: { submitter: ['read', 'write', 'list'], worker: ['read', 'list'] },
      expires: true,
    },
    {
      prefix: 'cancelled/',
      holds: 'markers of jobs that ended cancelled, for counting',
      grants: { worker: ['write'], submitter: ['read', 'list'] },
      expires: true,
    },
    {
      prefix: 'workers/',
      holds: "each worker's status report (the dashboard's worker list)",
      grants: { worker: ['write'], submitter: ['read', 'list'] },
      expires: true,
    },
    {
      prefix: 'batches/',
      holds: 'batch manifests: the job ids a submit sent',
      grants: { submitter: ['read', 'write', 'list'] },
      expires: true,
    },
    // Delayed jobs and schedules (docs/scheduling.md): the submitter parks and schedules jobs,
    // and the same role runs the timer (`flotilla scheduler`), which sends them when due.
    {
      prefix: 'scheduled/',
      holds: 'jobs delayed beyond 15 minutes, by due minute; the timer sends and deletes them',
      grants: { submitter: ['read', 'write', 'list', 'delete'] },
    },
    {
      prefix: 'schedules/',
      holds: 'recurring schedules (flotilla schedule add); the timer makes one job per slot',
      grants: { submitter: ['read', 'write', 'list', 'delete'] },
    },
    {
      prefix: 'fired/',
      holds: "the timer's claims: one per delayed job or schedule slot it sent, so it is sent once",
      grants: { submitter: ['read', 'write'] },
      expires: true,
    },
    {
      prefix: 'failover/',
      holds: 'which side of the deployment is active (flotilla failover); submitters and workers read it',
      // 'list' too: the record is usually absent, and S3 answers a missing key 404 (not 403) only
      // to a caller that may list it; workers and submitters read it every few seconds.
      grants: { submitter: ['read', 'list'], worker: ['read', 'list'] },
    },
  ] satisfies PrefixDeclaration[]),
  wholeBucket: Object.freeze({ exporter: ['read', 'write', 'list'] }),
  extraBuckets: Object.freeze([]),
} satisfies BucketLayout);

/** The built-in prefixes by name: `PREFIXES.results === 'results/'`. */
export const PREFIXES = Object.freeze({
  inputs: 'inputs/',
  outputs: 'outputs/',
  payloads: 'payloads/',
  results: 'results/',
  errors: 'errors/',
  progress: 'progress/',
  cancel: 'cancel/',
  cancelled: 'cancelled/',
  workers: 'workers/',
  batches: 'batches/',
  scheduled: 'scheduled/',
  schedules: 'schedules/',
  fired: 'fired/',
  failover: 'failover/',
} as const);

/** A deployment's own declarations, as cdk.json's `storage` setting and FLOTILLA_STORAGE carry them. */
export interface StorageDeclaration {
  readonly prefixes?: Readonly<Record<string, Grants>>;
  readonly buckets?: Readonly<Record<string, Grants>>;
}

/** Every problem with a storage declaration; empty when it is sound. */
export function validateStorage(s: StorageDeclaration): string[] {
  const problems: string[] = [];
  const checkGrants = (where: string, g: unknown) => {
    if (typeof g !== 'object' || g === null || Array.isArray(g)) {
      problems.push(`${where} must map principals (${PRINCIPALS.join(', ')}) to lists of access`);
      return;
    }
    for (const [who, access] of Object.entries(g)) {
      if (!(PRINCIPALS as readonly string[]).includes(who))
        problems.push(`${where}.${who}: unknown principal; one of ${PRINCIPALS.join(', ')}`);
      if (!Array.isArray(access) || access.some((a) => !(ACCESS as readonly string[]).includes(a)))
        problems.push(`${where}.${who} must be a list of ${ACCESS.join(', ')}`);
    }
  };
  for (const [prefix, g] of Object.entries(s.prefixes ?? {})) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._\-/]*\/$/.test(prefix) || prefix.includes('//'))
      problems.push(
        `${PREFIX_SETTING}.'${prefix}': a prefix is letters, digits, '.', '_', '-' and ends in '/'`,
      );
    checkGrants(`${PREFIX_SETTING}.'${prefix}'`, g);
  }
  for (const [name, g] of Object.entries(s.buckets ?? {})) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name))
      problems.push(`${BUCKET_SETTING}.'${name}' is not a valid bucket name`);
    checkGrants(`${BUCKET_SETTING}.'${name}'`, g);
  }
  return problems;
}

const union = (a: Grants, b: Grants): Grants => {
  const out: Partial<Record<Principal, Access[]>> = {};
  for (const who of PRINCIPALS) {
    const all = [...(a[who] ?? []), ...(b[who] ?? [])];
    if (all.length > 0) out[who] = ACCESS.filter((x) => all.includes(x));
  }
  return out;
};

/**
 * The layout with a deployment's declarations merged in: a new prefix is added, a built-in one
 * gains the access declared for it. Throws one error listing every problem.
 */
export function extendLayout(base: BucketLayout, extra: StorageDeclaration = {}): BucketLayout {
  const problems = validateStorage(extra);
  if (problems.length > 0) throw new Error(`invalid storage declaration: ${problems.join('; ')}`);
  const prefixes = base.prefixes.map((p) => ({ ...p }));
  for (const [prefix, grants] of Object.entries(extra.prefixes ?? {})) {
    const known = prefixes.find((p) => p.prefix === prefix);
    if (known) known.grants = union(known.grants, grants);
    else prefixes.push({ prefix, holds: `declared in ${PREFIX_SETTING}`, grants });
  }
  const extraBuckets = [
    ...base.extraBuckets,
    ...Object.entries(extra.buckets ?? {}).map(([name, grants]) => ({ name, grants })),
  ];
  return { prefixes, wholeBucket: base.wholeBucket, extraBuckets };
}

/** The prefixes under which `who` has `access` (not counting whole-bucket access). */
export function prefixesFor(layout: BucketLayout, who: Principal, access: Access): string[] {
  return layout.prefixes.filter((p) => p.grants[who]?.includes(access)).map((p) => p.prefix);
}

/** Whether `who` has `access` to every key of the data bucket. */
export function hasWholeBucket(layout: BucketLayout, who: Principal, access: Access): boolean {
  return layout.wholeBucket[who]?.includes(access) ?? false;
}

/**
 * Whether `who` may do `access` on `key` (for `list`, on keys starting with `key`): the key
 * lies under a prefix that grants it, or the principal has it on the whole bucket.
 */
export function allows(layout: BucketLayout, who: Principal, access: Access, key: string): boolean {
  if (hasWholeBucket(layout, who, access)) return true;
  return prefixesFor(layout, who, access).some((p) => key.startsWith(p));
}

/**
 * Why `who` may not do `access` on `key`, in one line that names the prefix and the setting
 * that would grant it.
 */
export function refusal(layout: BucketLayout, who: Principal, access: Access, key: string): string {
  const granted = prefixesFor(layout, who, access);
  const under = layout.prefixes.find((p) => key.startsWith(p.prefix));
  const top = key.includes('/') ? `${key.slice(0, key.indexOf('/') + 1)}` : undefined;
  const where = under
    ? `'${under.prefix}' (${under.holds}) grants the ${who} ${under.grants[who]?.join(', ') || 'nothing'}`
    : `no declared prefix holds '${key}'`;
  const allowed = granted.length > 0 ? granted.join(', ') : 'nowhere';
  const setting = `${PREFIX_SETTING}.'${under?.prefix ?? top ?? `${key}/`}'.${who}`;
  return `the ${who} may not ${access} '${key}': ${where}; it may ${access} under ${allowed} only. To grant it, add '${access}' to ${setting} in cdk.json (core/layout.ts lists the layout)`;
}
