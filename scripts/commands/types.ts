/** What cli.ts hands a command and what a command module exports: the seam between them. */

export interface CommandContext {
  readonly argv: string[];
  readonly env: NodeJS.ProcessEnv;
  /** Progress and human-facing output go here (stderr), results to stdout. */
  readonly err: NodeJS.WritableStream;
  readonly out: NodeJS.WritableStream;
}

/** What each command module exports. Returns the exit code. */
export type CommandMain = (ctx: CommandContext) => Promise<number>;
