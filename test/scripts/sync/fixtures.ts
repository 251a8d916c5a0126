/** Shared by the sync tests: a source deployment full of awkward objects, and a CLI runner. */
import { createHash, randomBytes } from 'node:crypto';
import type { S3Store } from '../../../core/adapters/s3-store.js';
import { BIN, type CliResult, flotilla } from '../../support/cli.js';

export interface Seeded {
  readonly key: string;
  readonly body: Buffer;
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
}

export const HOSTILE_KEYS = [
  '../escape.txt',
  '../../etc/flotilla-owned',
  '/absolute.txt',
  'a//b',
  'nul\u0000byte',
  'ctl\u0001char',
  'trailing/',
  `long/${'x'.repeat(300)}`,
  'd',
  'd/f',
  'Case.txt',
  'case.txt',
];

/** Objects of several sizes (zero-byte, small, 300 KiB, multipart-sized), types and metadata. */
export async function seedObjects(
  store: S3Store,
  opts: { largeBytes?: number; hostile?: boolean } = {},
): Promise<Seeded[]> {
  const objects: Seeded[] = [
    { key: 'empty.txt', body: Buffer.alloc(0), contentType: 'text/plain' },
    {
      key: 'small/hello.json',
      body: Buffer.from('{"hello":"world"}'),
      contentType: 'application/json',
      metadata: { owner: 'ops', trace: 'abc-123' },
    },
    { key: 'medium.bin', body: randomBytes(300 * 1024), contentType: 'application/octet-stream' },
    { key: 'results/batch-1/job-1.json', body: Buffer.from('{"ok":true}'), contentType: 'application/json' },
  ];
  if (opts.largeBytes) {
    objects.push({
      key: 'large/blob.bin',
      body: randomBytes(opts.largeBytes),
      contentType: 'application/x-blob',
    });
  }
  if (opts.hostile) {
    for (const key of HOSTILE_KEYS)
      objects.push({ key, body: Buffer.from(`content of ${JSON.stringify(key)}`) });
  }
  for (const o of objects) {
    const put = {
      ...(o.contentType ? { contentType: o.contentType } : {}),
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
    if (o.body.length > 5 * 1024 * 1024)
      await store.upload(o.key, o.body, { ...put, partSizeBytes: 5 * 1024 * 1024 });
    else await store.put(o.key, o.body, put);
  }
  return objects;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The CLI runner every command test uses, under the name these tests know it by. */
export { BIN, type CliResult, flotilla as runCli };
