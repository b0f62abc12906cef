import { AWS_LIMITS, PROTOCOL_V2 } from '../shared/limits';
import { ValidationError } from './errors';
import { describeType, normalizeUserId, validateConnectionId } from './identifiers';

/** API Gateway's WebSocket message payload limit (128 KiB), counted in UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = AWS_LIMITS.maxMessageBytes;

/**
 * Deepest nesting a message may have, the message object itself being level 1. Clients parse
 * what they receive, and their parsers stop at a depth: .NET's System.Text.Json at 64 by
 * default, serde_json at 128, Python's json near 1,000 (its recursion limit). A deeper message
 * would count as delivered and never be read. TripSync's notifications are a few levels deep.
 */
export const MAX_MESSAGE_DEPTH = 64;

/** Most users one `send` may address. A pool has a handful; 1,000 covers broadcasts to an area. */
export const MAX_USER_IDS = 1000;

/**
 * A logged message may be at most this large: with the protocol v2 envelope around it, its frame
 * must fit API Gateway's 128 KiB (`PROTOCOL_V2.envelopeReserveBytes`). A larger message (up to
 * `MAX_MESSAGE_BYTES`) still reaches v1 connections, unlogged.
 */
export const MAX_LOGGED_MESSAGE_BYTES = MAX_MESSAGE_BYTES - PROTOCOL_V2.envelopeReserveBytes;

/**
 * The payload a producer passes to the `send` function (Lambda `Invoke`, sync or `Event`).
 * Exactly one target: `userId`, `userIds` or `connectionId`. A message to users is logged in
 * each user's message log (protocol v2 clients get it after a reconnect) unless `persist` is
 * false; a `connectionId` send is never logged.
 *
 * @example
 * // TypeScript producer
 * const payload: SendPayload = { userIds: ['42', 7], message: { type: 'pool_filled', poolId: 'p-9' } };
 * await lambda.send(new InvokeCommand({ FunctionName, Payload: JSON.stringify(payload) }));
 * // An ephemeral message, never replayed:
 * const position: SendPayload = { userId: 42, message: { type: 'driver_position' }, persist: false };
 */
export type SendPayload =
  | { userId: string | number; message: Record<string, unknown>; persist?: boolean }
  | { userIds: Array<string | number>; message: Record<string, unknown>; persist?: boolean }
  | { connectionId: string; message: Record<string, unknown>; persist?: false };

/** Whom a validated request addresses. Ids are normalised (numbers become decimal strings). */
export type SendTarget =
  | { kind: 'user'; userId: string }
  | { kind: 'users'; userIds: string[] }
  | { kind: 'connection'; connectionId: string };

/** A validated `send` request: its target and the message already serialised once. */
export interface SendRequest {
  target: SendTarget;
  /** `persist` as given: true unless false, and false for a `connectionId` send. */
  persist: boolean;
  /**
   * Whether each user's log gets the message: `persist`, for a message that fits the v2
   * envelope (`MAX_LOGGED_MESSAGE_BYTES`).
   */
  log: boolean;
  /** The message as JSON text, exactly what a client receives. */
  messageJson: string;
  /** `messageJson` in UTF-8, posted as is to every connection. */
  messageBytes: Uint8Array;
}

const TARGET_FIELDS = ['userId', 'userIds', 'connectionId'] as const;
const KNOWN_FIELDS = new Set<string>([...TARGET_FIELDS, 'message', 'persist']);

/**
 * Validates a `send` payload. Throws `ValidationError` naming the field at fault, before
 * anything is read or sent.
 *
 * @example
 * parseSendRequest({ userId: 42, message: { type: 'seat_taken' } }).target;
 * // { kind: 'user', userId: '42' }
 */
export function parseSendRequest(payload: unknown): SendRequest {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ValidationError(
      'payload',
      `must be a JSON object with a target and a message, got ${describeType(payload)}`,
    );
  }
  const fields = payload as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!KNOWN_FIELDS.has(key)) {
      throw new ValidationError(
        `payload.${printable(key)}`,
        'unknown field; expected userId, userIds or connectionId, and message',
      );
    }
  }

  const present = TARGET_FIELDS.filter((f) => Object.hasOwn(fields, f) && fields[f] !== undefined);
  if (present.length === 0) {
    throw new ValidationError('payload', 'needs a target: one of userId, userIds or connectionId');
  }
  if (present.length > 1) {
    throw new ValidationError('payload', `needs exactly one target, got ${present.join(' and ')}`);
  }

  const target = parseTarget(present[0] as (typeof TARGET_FIELDS)[number], fields);
  const persist = parsePersist(fields.persist, target);
  const message = serializeMessage(fields.message);
  return {
    target,
    persist,
    log: persist && message.messageBytes.byteLength <= MAX_LOGGED_MESSAGE_BYTES,
    ...message,
  };
}

function parsePersist(value: unknown, target: SendTarget): boolean {
  if (value === undefined) return target.kind !== 'connection';
  if (typeof value !== 'boolean') {
    throw new ValidationError('persist', `must be true or false, got ${describeType(value)}`);
  }
  if (value && target.kind === 'connection') {
    throw new ValidationError(
      'persist',
      'a connectionId send is never logged (logs are per user); leave persist out',
    );
  }
  return value;
}

function parseTarget(field: (typeof TARGET_FIELDS)[number], fields: Record<string, unknown>) {
  switch (field) {
    case 'userId':
      return { kind: 'user', userId: normalizeUserId(fields.userId, 'userId') } as const;
    case 'connectionId':
      return {
        kind: 'connection',
        connectionId: validateConnectionId(fields.connectionId, 'connectionId'),
      } as const;
    case 'userIds':
      return { kind: 'users', userIds: parseUserIds(fields.userIds) } as const;
  }
}

/**
 * Normalises and de-duplicates a `userIds` list: `["42", 42]` is one user, who gets the message
 * once. Throws `ValidationError` naming `userIds` or the element at fault.
 *
 * @example
 * parseUserIds(['42', 42, 7]); // ['42', '7']
 */
export function parseUserIds(value: unknown, maxIds: number = MAX_USER_IDS): string[] {
  if (!Array.isArray(value)) {
    throw new ValidationError('userIds', `must be an array, got ${describeType(value)}`);
  }
  if (value.length === 0) throw new ValidationError('userIds', 'must not be empty');
  if (value.length > maxIds) {
    throw new ValidationError('userIds', `must hold at most ${maxIds} ids, got ${value.length}`);
  }
  const unique = new Set<string>();
  value.forEach((id, index) => {
    unique.add(normalizeUserId(id, `userIds[${index}]`));
  });
  return [...unique];
}

function serializeMessage(message: unknown): Pick<SendRequest, 'messageJson' | 'messageBytes'> {
  if (message === undefined) throw new ValidationError('message', 'is required');
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new ValidationError('message', `must be a JSON object, got ${describeType(message)}`);
  }
  if (nestedDeeperThan(message, MAX_MESSAGE_DEPTH)) {
    throw new ValidationError('message', `is nested more than ${MAX_MESSAGE_DEPTH} levels deep`);
  }
  let json: string;
  try {
    json = JSON.stringify(message);
  } catch (error) {
    // Nothing parsed from JSON gets here; a direct caller may pass a BigInt.
    throw new ValidationError('message', 'is not serialisable to send as JSON', { cause: error });
  }
  const bytes = new TextEncoder().encode(json);
  if (bytes.byteLength > MAX_MESSAGE_BYTES) {
    throw new ValidationError(
      'message',
      `is ${bytes.byteLength} bytes as JSON, over API Gateway's limit of ${MAX_MESSAGE_BYTES} bytes (128 KiB)`,
    );
  }
  return { messageJson: json, messageBytes: bytes };
}

/** Walks objects and arrays without recursion: the input may be nested deeper than the stack. */
function nestedDeeperThan(value: object, maxDepth: number): boolean {
  const pending: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > maxDepth) return true;
    for (const child of Object.values(next.node)) {
      if (typeof child === 'object' && child !== null) {
        pending.push({ node: child, depth: next.depth + 1 });
      }
    }
  }
  return false;
}

/**
 * Keeps an attacker-chosen key readable and short in an error message.
 *
 * @example
 * printable('a"b'); // 'a\\"b'
 */
export function printable(key: string): string {
  const escaped = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  return escaped.slice(1, -1);
}
