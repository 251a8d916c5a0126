/**
 * A user's handlers file, as `flotilla worker --handlers FILE` loads it and as a fleet's
 * `handlers` prop bundles it: its default export either registers job types itself or lists
 * their definitions. One rule for both, so a file that works in a terminal works in the fleet.
 *
 *   export default (registry: HandlerRegistry) => { registry.register(resize) };
 *   export default [resize, thumbnail] satisfies HandlerDefinition[];
 */
import type { HandlerDefinition, HandlerRegistry } from './registry.js';

/** What a handlers file exports by default. */
// biome-ignore lint/suspicious/noExplicitAny: a definition of any payload and result type is accepted
export type HandlersModule = ((registry: HandlerRegistry) => void) | readonly HandlerDefinition<any, any>[];

/**
 * Adds the job types of a handlers file's default export to `registry`. A CommonJS module's
 * `export default` arrives one level down, and is taken from there. Throws an Error saying what
 * the export must be when it is neither a function nor an array.
 */
export function addHandlers(registry: HandlerRegistry, exported: unknown): HandlerRegistry {
  let exp = exported;
  if (exp && typeof exp === 'object' && !Array.isArray(exp) && 'default' in exp) exp = exp.default;
  if (typeof exp === 'function') (exp as (r: HandlerRegistry) => void)(registry);
  else if (Array.isArray(exp)) for (const def of exp as HandlerDefinition[]) registry.register(def);
  else throw new Error('the default export must be a function (registry) => void or an array of handlers');
  return registry;
}
