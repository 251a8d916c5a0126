/**
 * What an S3 reply says, for the requests signed-client.ts sends: a listing page and an error
 * reply read with the SDK's own XML parser, an object's head read from the response headers.
 */
import { parseXML } from '@aws-sdk/xml-builder';
import type { ObjectHead, ObjectHeaders, ObjectInfo } from '../ports/object-store.js';
import { HttpServiceError } from './signed-client.js';

type Headers = Readonly<Record<string, string | string[] | undefined>>;
type XmlNode = string | { [name: string]: XmlNode | XmlNode[] } | undefined;

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The document's root element. */
function rootOf(xml: string): Record<string, XmlNode | XmlNode[]> {
  const doc = parseXML(xml) as Record<string, unknown>;
  const root = Object.values(doc)[0];
  return root && typeof root === 'object' ? (root as Record<string, XmlNode | XmlNode[]>) : {};
}

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

/** One ListObjectsV2 page: the objects and the token for the next page, if any. */
export function parseListPage(xml: string): { objects: ObjectInfo[]; next?: string } {
  const root = rootOf(xml);
  // Keys come back URL-encoded only where the server honoured encoding-type=url (and says so).
  const urlEncoded = text(root.EncodingType) === 'url';
  const objects = list(root.Contents as XmlNode | XmlNode[]).map((c) => {
    const o = (c ?? {}) as Record<string, unknown>;
    const rawKey = text(o.Key) ?? '';
    const modified = text(o.LastModified);
    return {
      key: urlEncoded ? decodeURIComponent(rawKey.replace(/\+/g, ' ')) : rawKey,
      size: Number(text(o.Size) ?? 0),
      etag: text(o.ETag) ?? '',
      lastModifiedMs: modified ? Date.parse(modified) : 0,
    };
  });
  const token = text(root.NextContinuationToken);
  return { objects, ...(text(root.IsTruncated) === 'true' && token ? { next: token } : {}) };
}

/**
 * Whether `xml` may hold an element named `name` (or one whose name starts so): without its
 * start tag in the text there is none, and the document need not be parsed. A bucket setting's
 * reply is small, but an endpoint may answer with another document (the bucket's listing,
 * hundreds of KB): parsing that costs an export tens of milliseconds, to find nothing.
 */
const mayHold = (xml: string, name: string): boolean => xml.includes(`<${name}`);

/** The text of the first element named `tag`, depth first, in an XML document; or undefined. */
export function xmlField(xml: string, tag: string): string | undefined {
  if (!mayHold(xml, tag)) return undefined;
  const find = (node: unknown): string | undefined => {
    if (!node || typeof node !== 'object') return undefined;
    for (const [name, value] of Object.entries(node)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (name === tag && typeof first === 'string') return first;
      const inner = find(first);
      if (inner !== undefined) return inner;
    }
    return undefined;
  };
  return find(parseXML(xml));
}

const BY_STATUS: Readonly<Record<number, string>> = {
  403: 'AccessDenied',
  404: 'NotFound',
  409: 'ConditionalRequestConflict',
  412: 'PreconditionFailed',
};

/** An S3 error reply as the SDK names it: the XML's Code and Message, else a name from the status. */
export function s3ErrorOf(status: number, xml: string): HttpServiceError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const root = xml ? rootOf(xml) : {};
    code = text(root.Code);
    message = text(root.Message);
  } catch {
    // Not XML (a proxy's error page): the status names it.
  }
  const fromReply = code !== undefined;
  code ??= BY_STATUS[status] ?? `Http${status}`;
  return new HttpServiceError(code, message ?? `${code} (HTTP ${status})`, status, fromReply);
}

/** A bucket's or object's tags from a `Tagging` document. */
export function tagSetOf(xml: string): { Key: string; Value: string }[] {
  if (!mayHold(xml, 'Tag')) return [];
  const set = rootOf(xml).TagSet as { Tag?: XmlNode | XmlNode[] } | undefined;
  return list(set?.Tag).map((t) => {
    const tag = (t ?? {}) as Record<string, unknown>;
    return { Key: text(tag.Key) ?? '', Value: text(tag.Value) ?? '' };
  });
}
