/**
 * The published JSON Schemas (docs/schema/) against the zod schemas they come from and against
 * what Flotilla itself sends and accepts. clients/python/tests/test_schema.py reads the same
 * fixtures with Python's jsonschema: one set of envelopes, two validators, one verdict.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Submitter } from '../../client/submit.js';
import { parseEnvelope } from '../../core/envelope.js';
import { InvalidEnvelopeError } from '../../core/errors.js';
import { jsonSchemaFiles, SCHEMA_DIR } from '../../scripts/schema.js';
import { freshDeployment } from '../support/deployment.js';
import { type Emulator, startEmbedded } from '../support/emulators.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'envelopes');
const fixtures = (kind: 'valid' | 'invalid') =>
  readdirSync(join(FIXTURES, kind))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f, body: readFileSync(join(FIXTURES, kind, f), 'utf8') }));

describe('docs/schema/*.json', () => {
  it('are what `npm run schema` writes from the zod schemas (run it after changing core/envelope.ts)', () => {
    const files = jsonSchemaFiles();
    expect(Object.keys(files).sort()).toEqual(
      readdirSync(SCHEMA_DIR)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    );
    for (const [file, text] of Object.entries(files)) {
      expect(readFileSync(join(SCHEMA_DIR, file), 'utf8'), `docs/schema/${file} is stale`).toBe(text);
    }
  });

  it('state the rules zod checks with refinements (one of payload and payloadRef, no ".." in ids)', () => {
    const envelope = JSON.parse(jsonSchemaFiles()['envelope.v1.json']!);
    expect(envelope.oneOf).toEqual([{ required: ['payload'] }, { required: ['payloadRef'] }]);
    expect(JSON.stringify(envelope.properties.id)).toContain('(?!.*\\\\.\\\\.)');
  });
});

describe('the envelope fixtures', () => {
  it.each(fixtures('valid'))('the worker accepts valid/$name', ({ body }) => {
    expect(parseEnvelope(body).v).toBe(1);
  });

  it.each(fixtures('invalid'))('the worker refuses invalid/$name', ({ body }) => {
    expect(() => parseEnvelope(body)).toThrow(InvalidEnvelopeError);
  });
});

describe('what Submitter sends', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmbedded();
  });
  afterAll(async () => emu?.stop());

  const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, 'valid', name), 'utf8'));

  async function sent(payload: unknown, threshold?: number) {
    const d = await freshDeployment(emu);
    const submitter = new Submitter({
      queue: d.queue,
      store: d.store,
      ...(threshold ? { claimCheckThresholdBytes: threshold } : {}),
    });
    await submitter.submit('echo', payload, { id: 'job-1', batch: 'b20261202-043656-a1b2c3' });
    const [msg] = await d.queue.receive({ maxMessages: 1, waitTimeSeconds: 1 });
    return JSON.parse(msg!.body) as Record<string, unknown>;
  }

  it('is the valid/submitter-inline.json fixture, up to the time', async () => {
    const want = fixture('submitter-inline.json');
    expect({ ...(await sent({ samples: 1000 })), submittedAt: want.submittedAt }).toEqual(want);
  });

  it('is the valid/submitter-claim-check.json fixture when the payload goes to the bucket', async () => {
    const want = fixture('submitter-claim-check.json');
    const payload = { text: "a payload large enough to pass the test's claim-check threshold" };
    expect({ ...(await sent(payload, 100)), submittedAt: want.submittedAt }).toEqual(want);
  });
});
