/**
 * Protocol v2 (`tripsync.v2`) as the client speaks it: the frames of PROTOCOL-V2.md and the part
 * of the WebSocket API the client needs. Types only, apart from the subprotocol's name.
 */

/**
 * The subprotocol a client offers to opt in to protocol v2 (`Sec-WebSocket-Protocol`).
 *
 * @example
 * new WebSocket(`${url}?token=${token}`, [PROTOCOL]);
 */
export const PROTOCOL = 'tripsync.v2';

/**
 * A `message` frame: `seq` and `epoch` are both present for a logged message, both absent otherwise.
 *
 * @example
 * const frame: MessageFrame = { type: 'message', seq: 12, epoch: '01JD8X', message: {} };
 */
export interface MessageFrame {
  type: 'message';
  seq?: number;
  epoch?: string;
  message: unknown;
}

/**
 * The frame that closes a resume: at most one page of messages after `after` came before it.
 *
 * @example
 * const frame: ResumedFrame = { type: 'resumed', epoch: '01JD8X', after: 5, last: 15, truncated: false };
 */
export interface ResumedFrame {
  type: 'resumed';
  /** The user's current epoch, or null when the user has no log. */
  epoch: string | null;
  /** The `after` the server used: 0 when the client's epoch was not the current one. */
  after: number;
  /** The highest seq of the current epoch when the resume was served (0 for no log). */
  last: number;
  /** Messages after `after` are no longer retained, or the client's epoch was an old one. */
  truncated: boolean;
}

/**
 * The part of the WebSocket API the client uses, which the browser's `WebSocket`, Node 22's
 * global one and the `ws` package's class all have. Declared here, not taken from the DOM
 * library, so the client type-checks in Node projects too.
 *
 * @example
 * const socket: WebSocketLike = new WebSocket(url, [PROTOCOL]);
 */
export interface WebSocketLike {
  readonly protocol: string;
  // The event types differ between the DOM and `ws`; the client reads only `data`, `code`,
  // `reason` and an error's `message`.
  // biome-ignore lint/suspicious/noExplicitAny: both the DOM's and ws's handler types must fit
  onopen: ((event: any) => void) | null;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onmessage: ((event: any) => void) | null;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onclose: ((event: any) => void) | null;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the TCP connection at once, without a closing handshake. */
  terminate?(): void;
}

/**
 * A WebSocket class: `globalThis.WebSocket` in browsers and Node 22+, or `ws`'s `WebSocket`.
 *
 * @example
 * import { WebSocket } from 'ws';
 * const WebSocketClass: WebSocketConstructor = WebSocket;
 */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;
