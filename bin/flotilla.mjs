#!/usr/bin/env node
// The `flotilla` command: runs scripts/cli.ts through tsx, so a clone needs no build step.
import { register } from 'tsx/esm/api';

// Flotilla supports Node 20 and says so in its README; the SDK's Node 22 notice would print on every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { run } = await import('../scripts/cli.ts');
process.exitCode = await run(process.argv.slice(2));
