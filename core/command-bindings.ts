/**
 * Job types bound to commands (command handlers), as a user writes them: `TYPE=COMMAND` on
 * `flotilla worker --exec`, or a JSON object in cdk.json `exec` that the fleet passes to its
 * workers as FLOTILLA_EXEC. Read by the CLI, the worker's entry point and the CDK constructs.
 */
import { TYPE_PATTERN } from './envelope.js';

/** One job type bound to a command line, run with `/bin/sh -c`. */
export interface CommandBinding {
  readonly type: string;
  readonly commandLine: string;
  /** @default - the handler default (600 s) */
  readonly timeoutSeconds?: number;
}

/** A binding as cdk.json `exec` holds it: the command line, or the line with a timeout. */
export type CommandBindingConfig = string | { readonly command: string; readonly timeoutSeconds?: number };

/** `TYPE=COMMAND LINE` (the `--exec` flag). Throws a one-line Error naming what is wrong. */
export function parseExecBinding(text: string): CommandBinding {
  const at = text.indexOf('=');
  const type = at < 0 ? '' : text.slice(0, at).trim();
  const commandLine = at < 0 ? '' : text.slice(at + 1).trim();
  if (!type || !commandLine)
    throw new Error(`'${text}' is not TYPE=COMMAND (e.g. thumbnail='python3 thumbnail.py')`);
  return checked({ type, commandLine });
}

/**
 * The bindings of a deployed fleet (FLOTILLA_EXEC, from cdk.json `exec`): a JSON object from job
 * type to a command line, or to `{ "command": "...", "timeoutSeconds": N }`.
 */
export function parseExecConfig(json: string): CommandBinding[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`);
  }
  return execBindings(raw);
}

/** The bindings of a parsed cdk.json `exec` (or FLOTILLA_EXEC) value; throws on the first problem. */
export function execBindings(raw: unknown): CommandBinding[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('must be a JSON object from job type to command line');
  return Object.entries(raw as Record<string, unknown>).map(([type, v]) => {
    if (typeof v === 'string') return checked({ type, commandLine: v.trim() });
    const o = (v ?? {}) as { command?: unknown; timeoutSeconds?: unknown };
    if (
      typeof o.command !== 'string' ||
      (o.timeoutSeconds !== undefined && typeof o.timeoutSeconds !== 'number')
    )
      throw new Error(`'${type}' must be a command line or { "command": "...", "timeoutSeconds": N }`);
    return checked({
      type,
      commandLine: o.command.trim(),
      ...(o.timeoutSeconds !== undefined ? { timeoutSeconds: o.timeoutSeconds } : {}),
    });
  });
}

function checked(b: CommandBinding): CommandBinding {
  if (!TYPE_PATTERN.test(b.type))
    throw new Error(`'${b.type}' is not a job type (a letter, then up to 63 letters, digits or _.:-)`);
  if (!b.commandLine) throw new Error(`job type '${b.type}' has an empty command`);
  if (b.timeoutSeconds !== undefined && !(b.timeoutSeconds > 0))
    throw new Error(`job type '${b.type}': timeoutSeconds must be greater than 0`);
  return b;
}
