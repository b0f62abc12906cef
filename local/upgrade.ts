import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { TOKEN_IDENTITY_SOURCE } from '../lambdas/manifest';
import { evaluateAuthorizerResult } from './authorizer-result';
import {
  type ConnectionDeps,
  GATEWAY_CLOSES,
  invokeDisconnect,
  LocalConnection,
} from './connection';
import {
  formatAuthorizerContext,
  formatAuthorizerEvent,
  formatConnectEvent,
  type HandshakeInfo,
} from './events';
import { apiGatewayId, traceId } from './ids';
import { type LocalFunction, withinIntegrationTimeout } from './lambda-runtime';

/** The query parameter the `$connect` authorizer's identity source names (`token`). */
const TOKEN_QUERY_PARAMETER = queryParameterOf(TOKEN_IDENTITY_SOURCE);

function queryParameterOf(identitySource: string): string {
  const prefix = 'route.request.querystring.';
  if (!identitySource.startsWith(prefix)) {
    throw new Error(`the local stack reads a query string identity source, not ${identitySource}`);
  }
  return identitySource.slice(prefix.length);
}

/** What the handshake needs beyond what every connection shares. */
export interface UpgradeDeps extends ConnectionDeps {
  authorizer: LocalFunction;
  connect: LocalFunction;
  wss: WebSocketServer;
  /** The port the gateway listens on (`X-Forwarded-Port`). */
  serverPort: number;
  /** True once the stack is stopping: new handshakes get 503. */
  isStopping(): boolean;
}

/** Sec-WebSocket-Protocol chosen by `$connect`, handed from the handshake to `handleProtocols`. */
const chosenProtocol = new WeakMap<IncomingMessage, string>();

/**
 * ws's `handleProtocols`: answer `Sec-WebSocket-Protocol` only with what `$connect` returned,
 * as API Gateway does. Left to itself, ws echoes the client's first protocol.
 *
 * @example
 * new WebSocketServer({ noServer: true, handleProtocols: protocolFromConnect });
 */
export function protocolFromConnect(_offered: Set<string>, req: IncomingMessage): string | false {
  return chosenProtocol.get(req) ?? false;
}

/**
 * Handles an upgrade request as API Gateway does: the handshake stays pending while the
 * authorizer and then `$connect` run, and is refused with their status when they say no.
 * Resolves when the handshake has completed or been refused.
 *
 * @example
 * server.on('upgrade', (req, socket, head) => void handleUpgrade(req, socket, head, deps));
 */
export async function handleUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  deps: UpgradeDeps,
): Promise<void> {
  const arrivedAt = Date.now();
  let clientLeft = false;
  const onGone = () => {
    clientLeft = true;
  };
  socket.on('error', onGone);
  socket.on('end', onGone);
  socket.on('close', onGone);
  const refuse = (status: number, why: string, errorType?: string) => {
    deps.log.line('refused', `${status} ${STATUS_CODES[status] ?? ''}: ${why}`);
    writeRefusal(socket, status, errorType);
  };

  if (deps.isStopping()) return refuse(503, 'the local stack is stopping');
  const url = new URL(req.url ?? '/', 'http://local');
  if (url.pathname !== '/' && url.pathname.replace(/\/$/, '') !== `/${deps.api.stage}`) {
    // API Gateway knows no other path than its stage.
    return refuse(403, `no stage at ${url.pathname}; connect to / or /${deps.api.stage}`);
  }
  const badHandshake = checkHandshake(req);
  if (badHandshake) return refuse(400, badHandshake);

  const handshake = handshakeInfo(req, url, socket, arrivedAt, deps.serverPort);
  // The identity source is route.request.querystring.token: absent or empty means 401 without
  // calling the authorizer.
  const token = url.searchParams.get(TOKEN_QUERY_PARAMETER);
  if (token === null || token === '') {
    return refuse(
      401,
      'no token query parameter (the authorizer was not called)',
      'UnauthorizedException',
    );
  }

  const trace = traceId(arrivedAt);
  const authorizerEvent = formatAuthorizerEvent(handshake, deps.api, {
    requestId: apiGatewayId(),
    now: Date.now(),
    traceId: trace,
  });
  const authStarted = performance.now();
  const authOutcome = await withinIntegrationTimeout(
    deps.authorizer.invoke(authorizerEvent),
    deps.integrationTimeoutMs,
  );
  const integrationLatency = Math.round(performance.now() - authStarted);
  if (authOutcome === undefined) {
    return refuse(500, 'the authorizer did not answer in time', 'AuthorizerFailureException');
  }
  if (!authOutcome.ok) {
    // Only the exact message "Unauthorized" means 401; any other failure is a 500.
    if (authOutcome.error.errorMessage === 'Unauthorized') {
      return refuse(401, 'the authorizer said Unauthorized', 'UnauthorizedException');
    }
    return refuse(
      500,
      `the authorizer failed: ${authOutcome.error.errorType}: ${authOutcome.error.errorMessage}`,
      'AuthorizerFailureException',
    );
  }
  const decision = evaluateAuthorizerResult(authOutcome.result, authorizerEvent.methodArn);
  if (decision.kind === 'invalid') {
    return refuse(
      500,
      `unusable authorizer response: ${decision.problem}`,
      'AuthorizerConfigurationException',
    );
  }
  if (decision.kind === 'deny') {
    // $connect is not called after a Deny.
    return refuse(
      403,
      `the authorizer denied principal ${decision.principalId}`,
      'AccessDeniedException',
    );
  }
  const authorizer = formatAuthorizerContext(
    decision.principalId,
    decision.context,
    integrationLatency,
  );
  const userId = String(authorizer.userId ?? authorizer.principalId);
  if (clientLeft) {
    socket.destroy();
    return;
  }

  const connectEvent = formatConnectEvent(handshake, deps.api, authorizer, {
    requestId: apiGatewayId(),
    now: Date.now(),
    traceId: trace,
  });
  const connectOutcome = await withinIntegrationTimeout(
    deps.connect.invoke(connectEvent),
    deps.integrationTimeoutMs,
  );
  if (connectOutcome === undefined) return refuse(504, '$connect did not answer in time');
  const response = connectOutcome.ok
    ? (connectOutcome.result as { statusCode?: unknown; headers?: unknown } | null)
    : undefined;
  const statusCode = typeof response?.statusCode === 'number' ? response.statusCode : undefined;
  if (!connectOutcome.ok) {
    return refuse(
      500,
      `$connect failed: ${connectOutcome.error.errorType}: ${connectOutcome.error.errorMessage}`,
    );
  }
  if (statusCode === undefined || statusCode < 200 || statusCode > 299) {
    // In API Gateway, a non-2xx $connect response refuses the handshake with that status.
    const status =
      statusCode !== undefined && statusCode >= 400 && statusCode <= 599 ? statusCode : 500;
    return refuse(status, `$connect answered ${String(response?.statusCode)}`);
  }

  const gone = clientLeft || !socket.readable || !socket.writable;
  if (gone || deps.isStopping()) {
    // $connect stored the connection; the client will never use it.
    if (gone) socket.destroy();
    else writeRefusal(socket, 503);
    const status = gone
      ? { code: 1006, reason: 'Client left during $connect' }
      : GATEWAY_CLOSES.goingAway;
    await invokeDisconnect(deps, handshake, authorizer, status, userId);
    return;
  }

  const protocol = headerValue(response?.headers, 'sec-websocket-protocol');
  if (protocol !== undefined) chosenProtocol.set(req, protocol);
  socket.off('error', onGone);
  socket.off('end', onGone);
  socket.off('close', onGone);
  deps.wss.handleUpgrade(req, socket, head, (ws) => {
    const connection = new LocalConnection(ws, socket, handshake, authorizer, deps);
    deps.registry.add(connection);
    deps.log.line(
      'connect',
      `${connection.id}  user ${userId}  (authorizer ${integrationLatency} ms, ${deps.registry.size} open)`,
    );
  });
}

function checkHandshake(req: IncomingMessage): string | undefined {
  // The checks ws makes, made before the authorizer runs rather than after $connect.
  if (req.method !== 'GET') return 'not a GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Upgrade is not websocket';
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !/^[+/0-9A-Za-z]{22}==$/.test(key)) {
    return 'missing or invalid Sec-WebSocket-Key';
  }
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'missing or invalid Sec-WebSocket-Version';
  return undefined;
}

function handshakeInfo(
  req: IncomingMessage,
  url: URL,
  socket: Duplex,
  connectedAt: number,
  serverPort: number,
): HandshakeInfo {
  const remote = (socket as { remoteAddress?: string }).remoteAddress ?? '127.0.0.1';
  const userAgent = req.headers['user-agent'];
  return {
    connectionId: apiGatewayId(),
    connectedAt,
    sourceIp: remote.replace(/^::ffff:/, ''),
    ...(userAgent !== undefined && { userAgent }),
    domainName: req.headers.host ?? `127.0.0.1:${serverPort}`,
    serverPort,
    rawHeaders: req.rawHeaders,
    query: [...url.searchParams.entries()],
  };
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** API Gateway's refusal: the status, a JSON `message`, and its error type header. */
function writeRefusal(socket: Duplex, status: number, errorType?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const messages: Record<number, string> = {
    401: 'Unauthorized',
    403: 'Forbidden',
    500: 'Internal server error',
  };
  const body = JSON.stringify({ message: messages[status] ?? STATUS_CODES[status] ?? 'Error' });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(errorType ? [`x-amzn-ErrorType: ${errorType}`] : []),
  ];
  // The server's sockets are half-open capable: close ours once the answer is flushed.
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}
