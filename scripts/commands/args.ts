/**
 * Argument parsing shared by every command: the flags it takes (its own, plus the connection
 * flags it uses), --help listing exactly those, one-line usage errors.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../../core/errors.js';
import {
  ALWAYS_HELP,
  ALWAYS_OPTIONS,
  type CommonFlags,
  DEPLOYMENT,
  WHERE_FLAGS,
  type WhereFlag,
} from '../target.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<V> {
  values: V & CommonFlags;
  positionals: string[];
  /** True when --help was given: the usage has been printed and the command should return 0. */
  help: boolean;
}

export interface CommandSpec {
  /** The command's own flags. */
  readonly options: Options;
  /** Its usage text, printed by --help above the connection flags. */
  readonly usage: string;
  /** The connection flags it reads (an own flag of the same name wins). @default DEPLOYMENT */
  readonly where?: readonly WhereFlag[];
}

export function parseCommand<V = Record<string, string | boolean | string[] | undefined>>(
  argv: string[],
  spec: CommandSpec,
  out: NodeJS.WritableStream,
): Parsed<V> {
  const where = (spec.where ?? DEPLOYMENT).filter((f) => !(f in spec.options));
  const whereOptions = Object.fromEntries(where.map((f) => [f, { type: WHERE_FLAGS[f].type }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...whereOptions, ...ALWAYS_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}; see --help`);
  }
  const values = parsed.values as V & CommonFlags & { help?: boolean };
  if (values.help) out.write(`${helpText(spec.usage, where)}\n`);
  return { values, positionals: parsed.positionals, help: values.help === true };
}

function helpText(usage: string, where: readonly WhereFlag[]): string {
  const connect = where.map((f) => `  ${WHERE_FLAGS[f].help}`);
  return [usage, '', ...(connect.length > 0 ? ['Where to connect:', ...connect] : []), ALWAYS_HELP].join(
    '\n',
  );
}

export function intOption(
  value: unknown,
  name: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, got '${value}'`);
  return n;
}
