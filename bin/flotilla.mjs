#!/usr/bin/env node
// The `flotilla` command. An installed package runs the bundle it ships (dist/bin/cli.mjs, built
// by scripts/build-package.ts) and needs neither esbuild nor tsx. A clone needs no build step:
// the first run bundles scripts/cli.ts with esbuild into dist/cli/<fingerprint>/ (about a
// second), and every run after that starts from the bundle, which loads in about a third of the
// time the TypeScript sources take through tsx. The fingerprint covers every source file's size
// and time, so an edit makes a new bundle; a bundle is never rewritten in place. Without esbuild,
// or with FLOTILLA_FROM_SOURCE=1, the sources run through tsx as they are (both are dev
// dependencies: a clone needs `npm ci`).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Flotilla supports Node 20 and says so in its README; the SDK's Node 22 notice would print on every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['scripts', 'client', 'core', 'workers', 'infra'];
const KEEP = 3;

function fingerprint() {
  const h = createHash('sha256');
  for (const dir of SOURCES) {
    const entries = readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ts|mts|js|mjs|json)$/.test(e.name))
      .map((e) => join(e.parentPath, e.name))
      .sort();
    for (const file of entries) {
      const s = statSync(file);
      h.update(`${file}\0${s.size}\0${s.mtimeMs}\n`);
    }
  }
  // This file too: it holds the build options.
  for (const file of [
    'package.json',
    'package-lock.json',
    join('bin', 'flotilla.mjs'),
    join('bin', 'cli-build.mjs'),
  ]) {
    const s = statSync(join(root, file), { throwIfNoEntry: false });
    if (s) h.update(`${file}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

async function bundle(outdir) {
  const { build } = await import('esbuild');
  const tmp = `${outdir}.${process.pid}.tmp`;
  const { cliBuildOptions, sourceDirnames } = await import('./cli-build.mjs');
  await build(cliBuildOptions(root, tmp, sourceDirnames(root, 'absolute')));
  try {
    renameSync(tmp, outdir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run built the same bundle first
  }
  const parent = dirname(outdir);
  const old = readdirSync(parent, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.endsWith('.tmp'))
    .map((e) => ({ path: join(parent, e.name), mtimeMs: statSync(join(parent, e.name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
    .slice(KEEP);
  for (const d of old) rmSync(d.path, { recursive: true, force: true });
}

async function loadCli() {
  // The published package ships the prebuilt bundle and no sources; a clone, where a prebuilt
  // bundle would go stale with the first edit, keeps bundling its sources by fingerprint.
  const prebuilt = join(root, 'dist', 'bin', 'cli.mjs');
  if (!existsSync(join(root, 'scripts', 'cli.ts')) && existsSync(prebuilt)) {
    if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
    module.enableCompileCache?.();
    return import(pathToFileURL(prebuilt).href);
  }
  if (process.env.FLOTILLA_FROM_SOURCE !== '1') {
    const outdir = join(root, 'dist', 'cli', fingerprint());
    const entry = join(outdir, 'cli.mjs');
    let built = existsSync(entry);
    if (!built) {
      try {
        mkdirSync(dirname(outdir), { recursive: true });
        await bundle(outdir);
        built = true;
      } catch {
        // No esbuild here: the sources still run, via tsx, if it is there.
      }
    }
    if (built) {
      // Stack traces through the bundle's source maps only with --debug (the only time a stack is
      // shown): loading the maps costs every start tens of milliseconds.
      if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
      // Node 22 and later keep V8's compiled code for the bundle from run to run, beside it (about
      // a third of the start-up here is compiling the bundle); Node 20 has no such cache.
      module.enableCompileCache?.(join(outdir, '.v8-cache'));
      return import(pathToFileURL(entry).href);
    }
  }
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('flotilla: this clone has neither esbuild nor tsx to run its sources: run npm ci\n');
    process.exit(1);
  }
  tsx.register();
  return import('../scripts/cli.ts');
}

const { run } = await loadCli();
// The command is over when run() settles: exit then, rather than wait for idle keep-alive
// connections in the transport's pool to be closed by the server.
process.exit(await run(process.argv.slice(2)));
