/**
 * The SigV4 signer behind the lean S3 reads and SQS calls gives the same Authorization header as
 * the AWS SDK's own signer (@smithy/signature-v4) for the requests Flotilla sends.
 */
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { canonicalQuery } from '../../../core/transport/s3-http.js';
import { encodeKeyPath, signRequest } from '../../../core/transport/sigv4.js';

class NodeSha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h = secret ? createHmac('sha256', Buffer.from(secret as Uint8Array)) : createHash('sha256');
  }
  update(d: string | Uint8Array) {
    this.h.update(typeof d === 'string' ? d : Buffer.from(d));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

describe('signRequest', () => {
  const cases: {
    name: string;
    path: string;
    query: Record<string, string>;
    headers: Record<string, string>;
    token?: string;
  }[] = [
    { name: 'a plain GET', path: '/bucket/data/obj-1.bin', query: {}, headers: {}, token: undefined },
    {
      name: 'a ranged, conditional GET with a session token',
      path: `/bucket/${encodeKeyPath('dir with space/ünï+cøde(1)*.txt')}`,
      query: {},
      headers: { range: 'bytes=0-1023', 'if-match': '"abc"' },
      token: 'FwoGZXIvYXdzEJr//////////token',
    },
    {
      name: 'a listing with a prefix and a continuation token',
      path: '/',
      query: { 'list-type': '2', 'encoding-type': 'url', prefix: 'a b/c+d', 'continuation-token': 'x/y=z' },
      headers: {},
      token: undefined,
    },
  ];
  for (const c of cases) {
    it(`matches the SDK's SigV4 signer for ${c.name}`, async () => {
      const credentials = {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        ...(c.token ? { sessionToken: c.token } : {}),
      };
      const now = new Date('2026-11-25T12:34:56.789Z');
      const ours = signRequest({
        service: 's3',
        method: 'GET',
        host: 'bucket.s3.eu-west-1.amazonaws.com',
        path: c.path,
        query: canonicalQuery(c.query),
        headers: c.headers,
        region: 'eu-west-1',
        credentials,
        now,
      });
      const signer = new SignatureV4({
        service: 's3',
        region: 'eu-west-1',
        credentials,
        sha256: NodeSha256,
        uriEscapePath: false,
        applyChecksum: false,
      });
      const theirs = await signer.sign(
        {
          method: 'GET',
          protocol: 'https:',
          hostname: 'bucket.s3.eu-west-1.amazonaws.com',
          path: c.path,
          query: c.query,
          headers: {
            host: 'bucket.s3.eu-west-1.amazonaws.com',
            'x-amz-content-sha256': ours['x-amz-content-sha256'] ?? '',
            ...c.headers,
          },
        },
        { signingDate: now },
      );
      expect(ours.authorization).toBe(theirs.headers.authorization);
      expect(ours['x-amz-date']).toBe(theirs.headers['x-amz-date']);
    });
  }
});

describe('signRequest for SQS', () => {
  it("matches the SDK's SigV4 signer for a JSON POST with a body", async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/key+1', sessionToken: 'tok' };
    const now = new Date('2026-11-25T23:59:59.999Z');
    const body = JSON.stringify({
      QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q',
      MaxNumberOfMessages: 10,
    });
    const headers = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'AmazonSQS.ReceiveMessage',
    };
    const ours = signRequest({
      service: 'sqs',
      method: 'POST',
      host: 'sqs.eu-west-1.amazonaws.com',
      path: '/',
      headers,
      body,
      region: 'eu-west-1',
      credentials,
      now,
    });
    const signer = new SignatureV4({ service: 'sqs', region: 'eu-west-1', credentials, sha256: NodeSha256 });
    const theirs = await signer.sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: 'sqs.eu-west-1.amazonaws.com',
        path: '/',
        headers: { host: 'sqs.eu-west-1.amazonaws.com', ...headers },
        body,
      },
      { signingDate: now },
    );
    expect(ours.authorization).toBe(theirs.headers.authorization);
    expect(ours['x-amz-security-token']).toBe('tok');
  });
});
