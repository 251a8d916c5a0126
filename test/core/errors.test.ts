/**
 * classifyError on what undici really throws: an endpoint that accepts and then says nothing,
 * or stops half-way through a body, is an outage to back off from, not a failed job.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../core/errors.js';
import { createDispatcher } from '../../core/transport/dispatcher.js';

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/half-body') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      return; // never finishes
    }
    // '/silent': never answers
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function failureOf(path: string): Promise<unknown> {
  const dispatcher = createDispatcher({ requestTimeoutMs: 300 });
  try {
    const res = await dispatcher.request({ origin: base, path, method: 'GET' });
    await res.body.text();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await dispatcher.destroy();
  }
}

describe('classifyError', () => {
  it('takes an endpoint that never answers for a connection problem', async () => {
    const err = await failureOf('/silent');
    expect((err as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(classifyError(err)).toBe('connection');
  });

  it('takes a body that stops half-way for a connection problem', async () => {
    const err = await failureOf('/half-body');
    expect((err as { code?: string }).code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(classifyError(err)).toBe('connection');
  });
});
