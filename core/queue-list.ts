/**
 * The list of job queues a worker serves or a command reaches, as FLOTILLA_QUEUES carries it
 * (the fleet sets it from the stack's queues; `flotilla local` prints it): one reader for the
 * worker bundle and the CLI.
 */

/** One of a deployment's job queues, by name, as a worker or a command is told of it. */
export interface NamedQueue {
  readonly name: string;
  readonly url: string;
  /** @default - the queue's redrive target */
  readonly dlqUrl?: string;
  /** Share of the job slots in weighted mode. @default 1 */
  readonly weight?: number;
}

/** FLOTILLA_QUEUES: a JSON array of `{ name, url, dlqUrl?, weight? }`, highest priority first. */
export function parseQueuesJson(text: string): NamedQueue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('must be a JSON array of { name, url, dlqUrl?, weight? }');
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new Error('must be a non-empty JSON array of { name, url, dlqUrl?, weight? }');
  return parsed.map((q: Record<string, unknown>, i) => {
    if (typeof q?.name !== 'string' || typeof q.url !== 'string')
      throw new Error(`entry ${i} needs a string name and url`);
    if (q.weight !== undefined && !(typeof q.weight === 'number' && q.weight > 0))
      throw new Error(`entry ${i} ('${q.name}'): weight must be a number > 0`);
    return {
      name: q.name,
      url: q.url,
      ...(typeof q.dlqUrl === 'string' ? { dlqUrl: q.dlqUrl } : {}),
      ...(typeof q.weight === 'number' ? { weight: q.weight } : {}),
    };
  });
}
