/**
 * `npm run schema`: write the JSON Schema files of the job envelope and the bucket's result and
 * error records (docs/schema/*.json) from their zod schemas in core/envelope.ts, so that clients
 * in any language validate against what the worker itself checks. test/core/schema.test.ts fails
 * when the committed files differ from what this would write.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { EnvelopeSchema, ErrorRecordSchema, ResultRecordSchema } from '../core/envelope.js';
import { ResultPackSchema } from '../core/result-packs.js';

export const SCHEMA_DIR = join(import.meta.dirname, '..', 'docs', 'schema');

const SCHEMAS = {
  'envelope.v1.json': EnvelopeSchema,
  'result.v1.json': ResultRecordSchema,
  'error.v1.json': ErrorRecordSchema,
  'result-pack.v1.json': ResultPackSchema,
};

/** File name → file contents. `io: 'input'` describes what is accepted, before zod's defaults and stripping. */
export function jsonSchemaFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, schema] of Object.entries(SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
    out[file] = `${JSON.stringify(json, null, 2)}\n`;
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const [file, text] of Object.entries(jsonSchemaFiles())) {
    writeFileSync(join(SCHEMA_DIR, file), text);
    console.log(`wrote docs/schema/${file}`);
  }
}
