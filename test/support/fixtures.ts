import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const folder = fileURLToPath(new URL('../fixtures/apigw-websocket/', import.meta.url));
const cache = new Map<string, unknown>();

export type FixtureName = 'connect' | 'disconnect' | 'message' | 'authorizer-request';

/**
 * A real captured API Gateway event, cloned so a test can change it freely.
 *
 * @example
 * const event = loadEvent('connect');
 * event.requestContext.connectionId = 'abc=';
 */
// biome-ignore lint/suspicious/noExplicitAny: tests reshape events freely
export function loadEvent(name: FixtureName): any {
  if (!cache.has(name)) {
    cache.set(name, JSON.parse(readFileSync(`${folder}${name}.json`, 'utf8')));
  }
  return structuredClone(cache.get(name));
}
