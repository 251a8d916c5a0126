/**
 * S3 event notifications, as the bucket sends them to a changes queue (the DataStore's
 * `changeNotifications`): which keys of which bucket changed, and when. At-least-once and
 * unordered, so a follower treats each as "look at this key again" and reads the source's
 * current state, never the event's.
 */

export interface ObjectEvent {
  readonly bucket: string;
  readonly key: string;
  readonly removed: boolean;
  /** When S3 says the change happened. */
  readonly atMs: number;
}

interface EventRecord {
  readonly eventName?: string;
  readonly eventTime?: string;
  readonly s3?: { readonly bucket?: { readonly name?: string }; readonly object?: { readonly key?: string } };
}

/**
 * The object events in one message body; none for the test event S3 sends when a configuration
 * is written, or for a body that is not an event.
 */
export function parseObjectEvents(body: string): ObjectEvent[] {
  let doc: { Records?: EventRecord[] };
  try {
    doc = JSON.parse(body) as { Records?: EventRecord[] };
  } catch {
    return [];
  }
  const out: ObjectEvent[] = [];
  for (const r of doc.Records ?? []) {
    const bucket = r.s3?.bucket?.name;
    const raw = r.s3?.object?.key;
    if (!bucket || raw === undefined || !r.eventName) continue;
    // Keys arrive URL-encoded, spaces as '+'.
    const key = decodeURIComponent(raw.replace(/\+/g, ' '));
    const at = Date.parse(r.eventTime ?? '');
    out.push({
      bucket,
      key,
      removed: r.eventName.startsWith('ObjectRemoved'),
      atMs: Number.isFinite(at) ? at : Date.now(),
    });
  }
  return out;
}
