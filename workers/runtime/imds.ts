/**
 * The EC2 instance metadata service, IMDSv2 only: a session token from PUT /latest/api/token,
 * then GETs under /latest/meta-data/ that carry it. Shared by the Auto Scaling scale-in guard
 * (which instance and group this is) and the Spot interruption watcher.
 */

/** GET or PUT `url`, the body as text; a non-2xx answer throws with its status. */
export async function requestText(url: string, init: RequestInit, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok)
    throw new HttpStatusError(
      `${init.method ?? 'GET'} ${url} answered ${res.status}: ${text.slice(0, 200)}`,
      res.status,
    );
  return text;
}

export class HttpStatusError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

export interface ImdsOptions {
  /** Base URL of the metadata service. @default 'http://169.254.169.254' */
  readonly url?: string;
  /** Per-request timeout. @default 2000 */
  readonly timeoutMs?: number;
}

const TOKEN_TTL_SECONDS = 21_600;

export class Imds {
  private readonly base: string;
  private readonly timeoutMs: number;
  private token: { value: Promise<string>; expiresAtMs: number } | undefined;

  constructor(opts: ImdsOptions = {}) {
    this.base = (opts.url ?? 'http://169.254.169.254').replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  /** The value at `meta-data/<path>`, or undefined when IMDS has none (404). */
  async get(path: string): Promise<string | undefined> {
    try {
      return await this.getOnce(path);
    } catch (err) {
      if (err instanceof HttpStatusError && err.status === 404) return undefined;
      if (err instanceof HttpStatusError && err.status === 401) {
        this.token = undefined; // expired or revoked: one fresh token, one more try
        return this.getOnce(path).catch((e: unknown) => {
          if (e instanceof HttpStatusError && e.status === 404) return undefined;
          throw e;
        });
      }
      throw err;
    }
  }

  private async getOnce(path: string): Promise<string> {
    return requestText(
      `${this.base}/latest/meta-data/${path}`,
      { headers: { 'x-aws-ec2-metadata-token': await this.sessionToken() } },
      this.timeoutMs,
    );
  }

  private sessionToken(): Promise<string> {
    if (!this.token || Date.now() >= this.token.expiresAtMs) {
      const value = requestText(
        `${this.base}/latest/api/token`,
        { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) } },
        this.timeoutMs,
      );
      // Renew well before IMDS would refuse it; a failed PUT is not kept.
      this.token = { value, expiresAtMs: Date.now() + (TOKEN_TTL_SECONDS / 2) * 1000 };
      value.catch(() => {
        this.token = undefined;
      });
    }
    return this.token.value;
  }
}
