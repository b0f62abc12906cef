import { PROTOCOL_V2 } from '../shared/limits';
import type { ClientProtocol } from './ports';

/**
 * The protocol a `$connect` answers, from the subprotocols the client offered
 * (`Sec-WebSocket-Protocol`, a comma-separated list, possibly repeated): `tripsync.v2` when it is
 * among them, `v1` otherwise. API Gateway passes `Sec-WebSocket-Protocol` on to the client only
 * when `$connect` returns it as a header, and a client that offered protocols fails a handshake
 * that answers none of them: a client offering only others is refused, as on any server.
 *
 * @example
 * chosenProtocol({ 'Sec-WebSocket-Protocol': 'tripsync.v2' }, undefined); // 'tripsync.v2'
 * chosenProtocol({}, undefined);                                          // 'v1'
 */
export function chosenProtocol(
  headers: Record<string, string | undefined> | null | undefined,
  multiValueHeaders: Record<string, string[] | undefined> | null | undefined,
): ClientProtocol {
  const offered: string[] = [];
  for (const [name, value] of Object.entries(multiValueHeaders ?? {})) {
    if (name.toLowerCase() === 'sec-websocket-protocol') offered.push(...(value ?? []));
  }
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'sec-websocket-protocol' && value !== undefined) offered.push(value);
  }
  const protocols = offered.flatMap((list) => list.split(',').map((p) => p.trim()));
  return protocols.includes(PROTOCOL_V2.subprotocol) ? PROTOCOL_V2.subprotocol : 'v1';
}

/** A logged message's place in its user's sequence. */
export interface LogPosition {
  seq: number;
  epoch: string;
}

/**
 * A `message` frame of protocol v2 around a message's JSON text, which is inserted as is (it was
 * validated and serialised once): `{"type":"message","seq":12,"epoch":"…","message":{…}}`, or
 * without `seq` and `epoch` for a message that was not logged.
 *
 * @example
 * messageFrame('{"type":"seat_taken"}', { seq: 12, epoch: 'AbCdEfGhIjKlMnOp' });
 * // '{"type":"message","seq":12,"epoch":"AbCdEfGhIjKlMnOp","message":{"type":"seat_taken"}}'
 */
export function messageFrame(messageJson: string, position?: LogPosition): string {
  const logged = position ? `"seq":${position.seq},"epoch":${JSON.stringify(position.epoch)},` : '';
  return `{"type":"message",${logged}"message":${messageJson}}`;
}

/**
 * The frame that closes a resume.
 *
 * @example
 * resumedFrame({ epoch: 'AbCdEfGhIjKlMnOp', after: 5, last: 15, truncated: false });
 */
export function resumedFrame(fields: {
  epoch: string | null;
  after: number;
  last: number;
  truncated: boolean;
}): string {
  return JSON.stringify({ type: 'resumed', ...fields });
}
