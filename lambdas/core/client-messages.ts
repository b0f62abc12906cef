import { MissingIdentityError } from './errors';
import { type AuthorizerContext, authorizedUserId } from './identity';

/** What a client may send on the socket. Anything else gets an `error` reply. */
export const CLIENT_ACTIONS = ['ping', 'whoami'] as const;

/** Stable codes of the `error` reply, for clients to branch on. */
export type ClientErrorCode =
  | 'BINARY_NOT_SUPPORTED'
  | 'EMPTY_MESSAGE'
  | 'INVALID_JSON'
  | 'NOT_AN_OBJECT'
  | 'MISSING_ACTION'
  | 'INVALID_ACTION'
  | 'UNKNOWN_ACTION'
  | 'NO_IDENTITY';

/**
 * The reply to a client frame. It goes back to the sender only (as a route response): no client
 * frame can make the backend write to another connection.
 */
export type ServerReply =
  | { type: 'pong' }
  | { type: 'whoami'; userId: string; connectionId: string }
  | { type: 'error'; code: ClientErrorCode; message: string };

/** A frame as the `$default` route receives it. */
export interface ClientFrame {
  body?: string | null;
  isBase64Encoded?: boolean;
  connectionId: string;
  authorizer?: AuthorizerContext;
}

/**
 * Answers one client frame. Pure: it never throws, whatever the frame holds.
 *
 * @example
 * replyToClientFrame({ body: '{"action":"ping"}', connectionId: 'c1' }); // { type: 'pong' }
 * replyToClientFrame({ body: 'hello', connectionId: 'c1' });
 * // { type: 'error', code: 'INVALID_JSON', message: 'message is not JSON; send {"action":"ping"} or {"action":"whoami"}' }
 */
export function replyToClientFrame(frame: ClientFrame): ServerReply {
  // API Gateway closes a connection that sends a binary frame (1003) before any route runs;
  // this answers an integration that forwards one anyway.
  if (frame.isBase64Encoded) {
    return error('BINARY_NOT_SUPPORTED', 'binary frames are not supported; send JSON text');
  }
  const body = frame.body ?? '';
  if (body.trim() === '') return error('EMPTY_MESSAGE', `message is empty; ${HINT}`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return error('INVALID_JSON', `message is not JSON; ${HINT}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return error('NOT_AN_OBJECT', `message must be a JSON object; ${HINT}`);
  }
  if (!Object.hasOwn(parsed, 'action'))
    return error('MISSING_ACTION', `message has no "action"; ${HINT}`);
  const action = (parsed as { action: unknown }).action;
  if (typeof action !== 'string') {
    return error('INVALID_ACTION', `"action" must be a string; ${HINT}`);
  }

  switch (action) {
    case 'ping':
      return { type: 'pong' };
    case 'whoami':
      try {
        return {
          type: 'whoami',
          userId: authorizedUserId(frame.authorizer),
          connectionId: frame.connectionId,
        };
      } catch (cause) {
        if (cause instanceof MissingIdentityError) {
          return error('NO_IDENTITY', 'this connection has no authorized user');
        }
        throw cause;
      }
    default:
      return error('UNKNOWN_ACTION', `unknown action ${quote(action)}; ${HINT}`);
  }
}

const HINT = `send {"action":"ping"} or {"action":"whoami"}`;

function error(code: ClientErrorCode, message: string): ServerReply {
  return { type: 'error', code, message };
}

/** Echoes a client's action back safely: quoted, and cut to 40 characters. */
function quote(action: string): string {
  return JSON.stringify(action.length > 40 ? `${action.slice(0, 40)}…` : action);
}
