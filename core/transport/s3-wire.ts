/**
 * What an S3 reply says, read off the wire for the calls Flotilla sends without the SDK (the
 * export's reads in core/transport/s3-http.ts, the worker's result calls in s3-lean.ts): an object's
 * head from the response headers, and an error reply as the SDK would name it.
 */
import type { ObjectHead, ObjectHeaders } from '../ports.js';
import { HttpServiceError } from './signed-http.js';

/** Lower-case header names, as node:http and the export's client give them. */
type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** The object's head (size, ETag, time, type, metadata, standard headers) from a GET or HEAD. */
export function objectHeadOf(key: string, h: Headers): ObjectHead & ObjectHeaders {
  const str = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
  }
  const modified = str(h['last-modified']);
  return {
    key,
    size: Number(str(h['content-length']) ?? 0),
    etag: str(h.etag) ?? '',
    lastModifiedMs: modified ? Date.parse(modified) : 0,
    contentType: str(h['content-type']),
    metadata,
    cacheControl: str(h['cache-control']),
    contentDisposition: str(h['content-disposition']),
    contentEncoding: str(h['content-encoding']),
    contentLanguage: str(h['content-language']),
  };
}

const BY_STATUS: Readonly<Record<number, string>> = {
  403: 'AccessDenied',
  404: 'NotFound',
  409: 'ConditionalRequestConflict',
  412: 'PreconditionFailed',
};

/** An S3 error reply as the SDK names it: the XML's Code and Message, else a name from the status. */
export function s3ErrorOf(status: number, xml: string): HttpServiceError {
  const tag = (t: string) => xml.match(new RegExp(`<${t}>([^<]*)</${t}>`))?.[1];
  const code = tag('Code') ?? BY_STATUS[status] ?? `Http${status}`;
  return new HttpServiceError(code, tag('Message') ?? `${code} (HTTP ${status})`, status);
}
