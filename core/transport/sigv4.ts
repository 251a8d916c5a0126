/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256) for the few requests Flotilla sends without the SDK's
 * middleware: S3 GETs in bulk transfers and the worker's SQS receive and delete. The SDK still
 * supplies the credentials and the endpoint; this only signs. Tested against the SDK's own signer.
 */
import { createHash, createHmac } from 'node:crypto';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SigningInput {
  /** 's3', 'sqs'. */
  readonly service: string;
  readonly method: string;
  readonly host: string;
  /** Sent as given: S3 paths are encoded once, by the caller. */
  readonly path: string;
  /** Canonical already (names sorted, names and values URI-encoded); sent as given. */
  readonly query?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, for its hash; none for a GET. */
  readonly body?: string | Buffer;
  readonly region: string;
  readonly credentials: Credentials;
  readonly now: Date;
}

/** URI-encode every byte but RFC 3986's unreserved characters (what SigV4 signs). */
export const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** S3's encoding of a key in a path: every segment URI-encoded, slashes kept. */
export const encodeKeyPath = (key: string): string => key.split('/').map(uriEncode).join('/');

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const keyCache = new Map<string, Buffer>();

/** YYYYMMDD'T'HHMMSS'Z', computed once per second (every request of that second shares it). */
let dateCache = { second: -1, text: '' };
function amzDateOf(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== dateCache.second) {
    dateCache = {
      second,
      text: now
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, ''),
    };
  }
  return dateCache.text;
}

/** The request's headers with x-amz-date, the payload hash, the session token and Authorization. */
export function signRequest(input: SigningInput): Record<string, string> {
  const amzDate = amzDateOf(input.now);
  const day = amzDate.slice(0, 8);
  const payloadHash =
    input.body === undefined || input.body.length === 0
      ? EMPTY_SHA256
      : createHash('sha256').update(input.body).digest('hex');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers.host = input.host;
  // As the SDK does for every service (S3 requires it).
  headers['x-amz-content-sha256'] = payloadHash;
  headers['x-amz-date'] = amzDate;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  let canonicalHeaders = '';
  for (const n of names) canonicalHeaders += `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`;
  const signedHeaders = names.join(';');
  const canonical = [
    input.method,
    input.path,
    input.query ?? '',
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  const cacheKey = `${input.credentials.secretAccessKey}\n${scope}`;
  let signingKey = keyCache.get(cacheKey);
  if (!signingKey) {
    const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
    signingKey = hmac(
      hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), input.service),
      'aws4_request',
    );
    if (keyCache.size > 16) keyCache.clear();
    keyCache.set(cacheKey, signingKey);
  }
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
