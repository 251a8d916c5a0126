#!/usr/bin/env node
// The `flotilla` command: runs scripts/cli.ts through tsx, so a clone needs no build step.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../scripts/cli.ts');
process.exitCode = await run(process.argv.slice(2));
