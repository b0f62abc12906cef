import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SQSEvent } from 'aws-lambda';

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

const sqsFolder = fileURLToPath(new URL('../fixtures/sqs/', import.meta.url));

/**
 * AWS's example SQS event (two records), cloned so a test can change it freely.
 *
 * @example
 * const event = loadSqsEvent();
 * event.Records[0].body = JSON.stringify({ userId: '42', message: {} });
 */
export function loadSqsEvent(): SQSEvent {
  if (!cache.has('sqs')) {
    cache.set('sqs', JSON.parse(readFileSync(`${sqsFolder}event.json`, 'utf8')));
  }
  return structuredClone(cache.get('sqs')) as SQSEvent;
}
