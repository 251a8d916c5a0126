/**
 * Turns what the SDK makes of a non-AWS answer (an HTML page becomes "XML parse error:
 * mismatched tags", an empty 502 or a redirect becomes "UnknownError") into an
 * EndpointAnswerError naming the status, the operation and the key or queue. Registered on
 * every client core/aws.ts builds. Errors the service itself sent (NoSuchBucket, a HEAD's
 * NotFound...) pass through untouched.
 */
import type {
  AbsoluteLocation,
  DeserializeHandlerOptions,
  DeserializeMiddleware,
  HttpRequest,
  Pluggable,
} from '@smithy/types';
import { EndpointAnswerError } from './errors.js';

interface SdkError {
  name?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string> };
}

/**
 * True when the answer is no service error reply: a redirect, or a body that is not XML or JSON
 * (an HTML page, nothing at all) that the SDK could not read. An XML or JSON error the SDK could
 * not name (an emulator's own error shape) passes through as the SDK reports it.
 */
function unreadable(e: SdkError): boolean {
  if (!e.$response) return false;
  const status = e.$response.statusCode ?? 0;
  if (status >= 300 && status < 400) return true;
  if (/xml|json/i.test(header(e.$response.headers, 'content-type') ?? '')) return false;
  // A failed parse leaves no $fault; an error reply the SDK could not name is 'Unknown'.
  return e.$fault === undefined || e.name === 'Unknown';
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

function middleware<I extends object, O extends object>(): DeserializeMiddleware<I, O> {
  return (next, context) => async (args) => {
    try {
      return await next(args);
    } catch (err) {
      const e = err as SdkError;
      if (!e || typeof e !== 'object' || !unreadable(e)) throw err;
      const request = args.request as HttpRequest | undefined;
      const input = args.input as { Key?: unknown; QueueUrl?: unknown };
      throw EndpointAnswerError.of(
        e.$response?.statusCode ?? e.$metadata?.httpStatusCode ?? 0,
        e.$response?.headers,
        {
          operation: (context.commandName ?? 'the request').replace(/Command$/, ''),
          method: request?.method ?? '?',
          target:
            typeof input.QueueUrl === 'string' && input.QueueUrl ? input.QueueUrl : (request?.path ?? '?'),
          hasKey: typeof input.Key === 'string',
        },
        err,
      );
    }
  };
}

const options: DeserializeHandlerOptions & AbsoluteLocation = {
  step: 'deserialize',
  priority: 'high',
  name: 'flotillaEndpointAnswer',
};

/** `client.middlewareStack.use(endpointAnswers())`: done for every client built in core/aws.ts. */
export function endpointAnswers<I extends object, O extends object>(): Pluggable<I, O> {
  return { applyToStack: (stack) => stack.add(middleware<I, O>(), options) };
}
