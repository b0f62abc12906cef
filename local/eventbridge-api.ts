import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_EVENT_BUS_NAME } from '../lambdas/shared/eventbridge';
import { readBody, sendAwsError, sendJson } from './http';
import type { StackLog } from './log';

/** An event as EventBridge delivers it to a rule's targets. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** A rule on the local default bus: which events it matches and where it sends them. */
export interface LocalRule {
  name: string;
  matches(event: BusEvent): boolean;
  /** Delivers a matched event; throws when the target refused it. */
  deliver(event: BusEvent): void;
}

/** What the local EventBridge serves. */
export interface EventBridgeApiDeps {
  region: string;
  accountId: string;
  rules: readonly LocalRule[];
  log: StackLog;
  /** Sees every accepted event (tests, presence events). */
  onEvent?: (event: BusEvent) => void;
}

/** EventBridge's limits on one `PutEvents` request. */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

/**
 * Recognises an EventBridge request (`X-Amz-Target: AWSEvents.*`).
 *
 * @example
 * isEventBridgeRequest(req); // true for AWSEvents.PutEvents
 */
export function isEventBridgeRequest(req: IncomingMessage): boolean {
  const target = req.headers['x-amz-target'];
  return typeof target === 'string' && target.startsWith('AWSEvents.');
}

/**
 * EventBridge's `PutEvents` (JSON 1.1) on the local stack's origin, for the account's default
 * bus, so that `EventBridgeClient`, boto3 and the CLI work unchanged but for the endpoint. Each
 * accepted event is matched against the local rules (the notification rule delivers its
 * `detail` into the notification queue, as the construct's rule does) and handed to `onEvent`.
 * Entries are checked as EventBridge checks them: an entry without `Source`, `DetailType` or
 * `Detail`, or whose `Detail` is not a JSON object, fails alone (`FailedEntryCount`); more
 * than 10 entries or 256 KB fail the request. Signatures are not checked.
 *
 * @example
 * if (isEventBridgeRequest(req)) return handleEventBridgeRequest(req, res, deps);
 */
export async function handleEventBridgeRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: EventBridgeApiDeps,
): Promise<void> {
  const operation = String(req.headers['x-amz-target']).slice('AWSEvents.'.length);
  const { body, tooLarge } = await readBody(req, MAX_REQUEST_BYTES);
  if (operation !== 'PutEvents') {
    return sendAwsError(res, 400, 'UnknownOperationException', {
      message: `The local stack serves EventBridge PutEvents only, not ${operation}`,
    });
  }
  if (tooLarge) {
    return sendAwsError(res, 400, 'ValidationException', {
      message: 'Total size of the entries in the request is over the limit.',
    });
  }
  let input: { Entries?: unknown };
  try {
    input = JSON.parse(body.toString('utf8')) as { Entries?: unknown };
  } catch {
    return sendAwsError(res, 400, 'SerializationException', { message: 'Malformed JSON.' });
  }
  const entries = input?.Entries;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_ENTRIES) {
    return sendAwsError(res, 400, 'ValidationException', {
      message: `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
    });
  }
  const results = entries.map((entry) => putEvent(entry as Record<string, unknown>, deps));
  sendJson(res, 200, {
    FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length,
    Entries: results,
  });
}

type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

function putEvent(entry: Record<string, unknown>, deps: EventBridgeApiDeps): EntryResult {
  const { Source, DetailType, Detail, EventBusName, Resources, Time } = entry;
  if (![Source, DetailType, Detail].every((v) => typeof v === 'string' && v !== '')) {
    return {
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameters Source, DetailType and Detail must each be a non-empty string.',
    };
  }
  if (!isDefaultBus(EventBusName, deps)) {
    return {
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `Event bus ${String(EventBusName)} does not exist on the local stack (it serves the default bus).`,
    };
  }
  if ((Source as string).startsWith('aws.')) {
    return {
      ErrorCode: 'NotAuthorizedForSourceException',
      ErrorMessage: 'Not authorized for the source.',
    };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(Detail as string);
  } catch {
    detail = undefined;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  const event: BusEvent = {
    version: '0',
    id: randomUUID(),
    'detail-type': DetailType as string,
    source: Source as string,
    account: deps.accountId,
    time: new Date(typeof Time === 'number' ? Time * 1000 : Date.now())
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z'),
    region: deps.region,
    resources: Array.isArray(Resources) ? Resources.map(String) : [],
    detail: detail as Record<string, unknown>,
  };
  const matched = deps.rules.filter((rule) => rule.matches(event));
  deps.log.line(
    'event',
    `${event['detail-type']} from ${printable(event.source)}${
      matched.length > 0 ? ` → ${matched.map((r) => r.name).join(', ')}` : ' (no rule matches)'
    }`,
  );
  for (const rule of matched) {
    try {
      rule.deliver(event);
    } catch (error) {
      // EventBridge retries a target, then gives up; the event is not the producer's error.
      deps.log.line(
        'error',
        `rule ${rule.name}: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
  deps.onEvent?.(event);
  return { EventId: event.id };
}

function isDefaultBus(name: unknown, deps: EventBridgeApiDeps): boolean {
  if (name === undefined || name === null || name === '' || name === DEFAULT_EVENT_BUS_NAME) {
    return true;
  }
  return (
    typeof name === 'string' &&
    name === `arn:aws:events:${deps.region}:${deps.accountId}:event-bus/${DEFAULT_EVENT_BUS_NAME}`
  );
}

/** A producer's string as one short line of text. */
function printable(text: string): string {
  return text.slice(0, 60).replace(/\p{Cc}/gu, '?');
}
