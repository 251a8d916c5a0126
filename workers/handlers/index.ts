import { echo, noop, sleep } from './diagnostics.js';
import { pi } from './pi.js';
import { HandlerRegistry } from './registry.js';
import { wordcount, wordcountMerge } from './wordcount.js';

export * from './registry.js';

/** The job types the bundled worker handles. Add your own with `registry.register(...)`. */
export function builtinHandlers(): HandlerRegistry {
  return new HandlerRegistry()
    .register(wordcount)
    .register(wordcountMerge)
    .register(pi)
    .register(echo)
    .register(sleep)
    .register(noop);
}
