/** Argument parsing shared by every command: common flags, --help, one-line usage errors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../../core/errors.js';
import { COMMON_HELP, COMMON_OPTIONS, type CommonFlags } from '../target.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<V> {
  values: V & CommonFlags;
  positionals: string[];
  /** True when --help was given: the usage has been printed and the command should return 0. */
  help: boolean;
}

export function parseCommand<V = Record<string, string | boolean | string[] | undefined>>(
  argv: string[],
  options: Options,
  usage: string,
  out: NodeJS.WritableStream,
): Parsed<V> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}; see --help`);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help) {
    out.write(`${usage}\n\n${COMMON_HELP}\n`);
    return { values: values as V & CommonFlags, positionals: parsed.positionals, help: true };
  }
  return { values: values as V & CommonFlags, positionals: parsed.positionals, help: false };
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
