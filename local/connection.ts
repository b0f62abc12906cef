import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import {
  type ApiInfo,
  type AuthorizerContext,
  formatDisconnectEvent,
  formatMessageEvent,
  type HandshakeInfo,
  selectRoute,
} from './events';
import { FrameGuard } from './frame-guard';
import { apiGatewayId } from './ids';
import { type LocalFunction, withinIntegrationTimeout } from './lambda-runtime';
import { formatBytes, type StackLog } from './log';
import type { ConnectionRegistry } from './registry';

/** A close code and the `disconnectReason` `$disconnect` reports with it. */
export interface CloseStatus {
  code: number;
  reason: string;
}

/** Closes the gateway initiates, with the reasons AWS reports where a capture shows them. */
export const GATEWAY_CLOSES = {
  /** `@connections` DELETE (captured: 1000 "Connection Closed Normally"). */
  deleted: { code: 1000, reason: 'Connection Closed Normally' },
  /** Idle timeout, 2-hour limit and shutdown (captured: 1001 "Going away" after 10 idle minutes). */
  goingAway: { code: 1001, reason: 'Going away' },
  /** A binary frame: API Gateway does not accept them and closes with 1003 (developer guide). */
  binary: { code: 1003, reason: 'Binary frames are not supported' },
  /** A frame over 32 KiB or a message over 128 KiB: 1009 (developer guide). */
  tooBig: { code: 1009, reason: 'Message too big' },
} as const satisfies Record<string, CloseStatus>;

/** What every connection shares: the API, its routes, the registry and the limits. */
export interface ConnectionDeps {
  api: ApiInfo;
  /** Route key → function, `$default` included; `$connect` and `$disconnect` excluded. */
  routes: ReadonlyMap<string, LocalFunction>;
  disconnect: LocalFunction;
  registry: ConnectionRegistry;
  log: StackLog;
  maxFrameBytes: number;
  /** API Gateway's wait for a route's integration (29 s). */
  integrationTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnectionDurationMs: number;
}

/**
 * One open WebSocket connection, from the completed handshake to `$disconnect`: routes each
 * message, in order, to its integration and sends the route response back; posts for the
 * Management API; enforces the frame limit, the idle timeout and the maximum duration; and runs
 * `$disconnect` exactly once, whichever side closed and however.
 *
 * @example
 * wss.handleUpgrade(req, socket, head, (ws) => {
 *   registry.add(new LocalConnection(ws, socket, handshake, authorizer, deps));
 * });
 */
export class LocalConnection {
  readonly id: string;
  /** Resolves once `$disconnect` has run. */
  readonly finished: Promise<void>;
  /** Epoch milliseconds of the last data frame in either direction (`GetConnection`). */
  lastActiveAt: number;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeIntent: CloseStatus | undefined;
  private queue: Promise<void> = Promise.resolve();
  private messagesSeen = 0;
  private readonly guard: FrameGuard;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly lifetimeTimer: NodeJS.Timeout;
  private markFinished: () => void = () => {};

  constructor(
    private readonly ws: WebSocket,
    socket: Duplex,
    readonly handshake: HandshakeInfo,
    readonly authorizer: AuthorizerContext | undefined,
    private readonly deps: ConnectionDeps,
  ) {
    this.id = handshake.connectionId;
    this.lastActiveAt = Date.now();
    this.finished = new Promise((resolve) => {
      this.markFinished = resolve;
    });
    this.guard = new FrameGuard(deps.maxFrameBytes);
    // Runs before ws's own listener, so an oversized frame is seen before ws delivers it.
    socket.prependListener('data', (chunk: Buffer) => {
      if (this.guard.push(chunk)) this.closeWith(GATEWAY_CLOSES.tooBig);
    });
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('error', (error) => this.onError(error));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString('utf8')));

    // Only data frames count as activity; API Gateway ignores pings for the idle timeout.
    this.idleTimer = setTimeout(() => this.closeWith(GATEWAY_CLOSES.goingAway), deps.idleTimeoutMs);
    const age = Date.now() - handshake.connectedAt;
    this.lifetimeTimer = setTimeout(
      () => this.closeWith(GATEWAY_CLOSES.goingAway),
      Math.max(0, deps.maxConnectionDurationMs - age),
    );
    this.idleTimer.unref();
    this.lifetimeTimer.unref();
  }

  /** The authorized user, for log lines. */
  get userId(): string {
    return String(this.authorizer?.userId ?? this.authorizer?.principalId ?? '?');
  }

  /**
   * Writes a Management API post to the socket: a text frame when the bytes are UTF-8 (JSON
   * always is), a binary frame otherwise, since a text frame must hold valid UTF-8 and clients
   * fail the connection on anything else. Resolves false when the connection is gone (410).
   */
  post(data: Buffer): Promise<boolean> {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.resolve(false);
    }
    this.touch();
    return new Promise((resolve) => {
      this.ws.send(data, { binary: !isUtf8(data) }, (error) => resolve(!error));
    });
  }

  /** Closes from the gateway's side (DELETE, timeouts, shutdown); `$disconnect` follows. */
  closeWith(status: CloseStatus): void {
    if (this.state !== 'open') return;
    this.beginClosing(status);
    this.ws.close(status.code, status.reason);
  }

  /** Drops the TCP connection of a peer that does not answer the close frame. */
  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const index = this.messagesSeen++;
    const violation = this.guard.violated;
    if (violation && index >= violation.messagesBefore) return;
    if (this.state !== 'open') return;
    if (isBinary) {
      this.closeWith(GATEWAY_CLOSES.binary);
      return;
    }
    this.touch();
    const body = data.toString('utf8');
    this.enqueue(() => this.route(body, data.length));
  }

  private async route(body: string, bytes: number): Promise<void> {
    const requestId = apiGatewayId();
    const routeKey = selectRoute(body, this.deps.routes.keys());
    const fn = routeKey === undefined ? undefined : this.deps.routes.get(routeKey);
    if (routeKey === undefined || fn === undefined) {
      // No matching route and no $default.
      this.reply(JSON.stringify({ message: 'Forbidden', connectionId: this.id, requestId }));
      this.deps.log.line('message', `${this.id}  no route  ${formatBytes(bytes)} → Forbidden`);
      return;
    }
    const event = formatMessageEvent(
      this.handshake,
      this.deps.api,
      this.authorizer,
      routeKey,
      body,
      { requestId, now: Date.now() },
      apiGatewayId(),
    );
    const started = performance.now();
    const outcome = await withinIntegrationTimeout(
      fn.invoke(event),
      this.deps.integrationTimeoutMs,
    );
    const ms = Math.round(performance.now() - started);
    let summary: string;
    if (outcome === undefined) {
      this.reply(this.apiError('Endpoint request timed out', requestId));
      summary = 'integration timed out → Endpoint request timed out';
    } else if (outcome.ok) {
      const result = outcome.result as { statusCode?: unknown; body?: unknown } | null;
      const responseBody = typeof result === 'object' ? result?.body : undefined;
      if (typeof responseBody === 'string') {
        this.reply(responseBody);
        summary = `${String(result?.statusCode)}, replied ${formatBytes(Buffer.byteLength(responseBody))}`;
      } else if (responseBody === undefined || responseBody === null) {
        summary = `${String(result?.statusCode)}, no reply`;
      } else {
        // A proxy integration's body must be a string.
        this.reply(this.apiError('Internal server error', requestId));
        summary = 'malformed response (body is not a string) → Internal server error';
      }
    } else {
      this.reply(this.apiError('Internal server error', requestId));
      summary = `${outcome.error.errorType}: ${outcome.error.errorMessage}`;
    }
    this.deps.log.line(
      'message',
      `${this.id}  user ${this.userId}  ${routeKey}  ${formatBytes(bytes)} → ${summary} (${ms} ms)`,
    );
  }

  private apiError(message: string, requestId: string): string {
    return JSON.stringify({ message, connectionId: this.id, requestId });
  }

  /** A route response goes to the sender only, as with API Gateway's two-way routes. */
  private reply(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(text);
    this.touch();
  }

  private onError(error: Error): void {
    // ws closes the socket itself after a protocol error; record why for $disconnect.
    const code = (error as { code?: string }).code;
    if (this.state !== 'open') return;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.beginClosing(GATEWAY_CLOSES.tooBig);
    else if (code === 'WS_ERR_INVALID_UTF8') {
      this.beginClosing({ code: 1007, reason: 'Invalid UTF-8 in a text frame' });
    } else if (code?.startsWith('WS_ERR_')) {
      this.beginClosing({ code: 1002, reason: 'Protocol error' });
    }
  }

  private onClose(code: number, reason: string): void {
    const status = this.closeIntent ?? clientCloseStatus(code, reason);
    this.state = 'closed';
    this.deps.registry.remove(this.id);
    this.stopTimers();
    // After the messages already received: $disconnect is the connection's last event.
    this.enqueue(() =>
      invokeDisconnect(this.deps, this.handshake, this.authorizer, status, this.userId),
    );
    void this.queue.then(() => this.markFinished());
  }

  private beginClosing(status: CloseStatus): void {
    this.state = 'closing';
    this.closeIntent = status;
    this.deps.registry.remove(this.id);
    this.stopTimers();
  }

  private touch(): void {
    this.lastActiveAt = Date.now();
    if (this.state === 'open') this.idleTimer.refresh();
  }

  private stopTimers(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.lifetimeTimer);
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((error: unknown) => {
      this.deps.log.line('error', `${this.id}  ${error instanceof Error ? error.stack : error}`);
    });
  }
}

/**
 * Runs `$disconnect` for a connection and logs it. Also used for a handshake whose client left
 * while `$connect` was running: `$connect` succeeded, so its row exists and must go.
 *
 * @example
 * await invokeDisconnect(deps, handshake, authorizer, { code: 1006, reason: 'Client left during $connect' }, '42');
 */
export async function invokeDisconnect(
  deps: Pick<ConnectionDeps, 'api' | 'disconnect' | 'registry' | 'log'>,
  handshake: HandshakeInfo,
  authorizer: AuthorizerContext | undefined,
  status: CloseStatus,
  userId: string,
): Promise<void> {
  const event = formatDisconnectEvent(handshake, deps.api, authorizer, status, {
    requestId: apiGatewayId(),
    now: Date.now(),
  });
  const outcome = await deps.disconnect.invoke(event);
  const result = outcome.ok
    ? String((outcome.result as { statusCode?: unknown } | null)?.statusCode)
    : `${outcome.error.errorType}: ${outcome.error.errorMessage}`;
  deps.log.line(
    'disconnect',
    `${handshake.connectionId}  user ${userId}  ${status.code} ${status.reason || '(no reason)'} → ${result}  (${deps.registry.size} open)`,
  );
}

/**
 * `disconnectStatusCode` and `disconnectReason` for a close the client caused. 1005 carries
 * API Gateway's captured wording; for other codes the client's own reason is passed on, or a
 * standard phrase when it gave none.
 *
 * @example
 * clientCloseStatus(1005, ''); // { code: 1005, reason: 'Client-side close frame status not set' }
 */
export function clientCloseStatus(code: number, reason: string): CloseStatus {
  if (code === 1005) return { code, reason: 'Client-side close frame status not set' };
  if (code === 1006) return { code, reason: 'Connection closed abnormally' };
  if (reason !== '') return { code, reason };
  const phrases: Record<number, string> = {
    1000: 'Connection Closed Normally',
    1001: 'Going away',
  };
  return { code, reason: phrases[code] ?? '' };
}
