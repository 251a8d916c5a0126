/**
 * undici's two dispatchers, imported from their own files. The package's index also loads fetch,
 * WebSocket, EventSource and the HTTP cache (CommonJS, so a bundler keeps all of it: about 230 KiB
 * of the worker bundle, parsed at every start), none of which a request here uses. What the index
 * does besides is done here too: it gives every dispatcher its request(), stream(), connect()...
 * methods (undici's proxy agent tunnels through connect()). The types are the package's own.
 * Import undici's dispatchers from this module, not from 'undici'.
 */
import type * as Undici from 'undici';
import api from 'undici/lib/api/index.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import EnvHttpProxyAgentClass from 'undici/lib/dispatcher/env-http-proxy-agent.js';

Object.assign((DispatcherClass as { prototype: object }).prototype, api);

export type { Dispatcher } from 'undici';
export type AgentOptions = Undici.Agent.Options;
export const Agent = AgentClass as typeof Undici.Agent;
export const EnvHttpProxyAgent = EnvHttpProxyAgentClass as typeof Undici.EnvHttpProxyAgent;
