import type { BuildOptions, Plugin } from 'esbuild';

export function sourceDirnames(root: string, from: 'absolute' | 'package', depth?: number): Plugin;
export function cliBuildOptions(root: string, outdir: string, plugin: Plugin): BuildOptions;
export const CLI_ENTRIES: Readonly<{ cli: string; 'file-writer-thread': string }>;
