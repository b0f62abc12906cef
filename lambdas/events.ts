/**
 * The parts of API Gateway WebSocket events the handlers read. Real captures are in
 * `test/fixtures/apigw-websocket/`; these types are narrower on purpose.
 */

export interface WebSocketRequestContext {
  routeKey: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  connectionId: string;
  /** Epoch milliseconds when the handshake arrived. */
  connectedAt?: number;
  requestId?: string;
  stage?: string;
  domainName?: string;
  apiId?: string;
  /** Set on every event of the connection by the `$connect` Lambda authorizer. */
  authorizer?: Record<string, unknown> | null;
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

/** A `$connect`, `$disconnect` or message event. */
export interface WebSocketRouteEvent {
  requestContext: WebSocketRequestContext;
  body?: string | null;
  isBase64Encoded?: boolean;
  queryStringParameters?: Record<string, string | undefined> | null;
  headers?: Record<string, string | undefined>;
  /** On `$connect`: every header, repeated ones kept. */
  multiValueHeaders?: Record<string, string[] | undefined> | null;
}

/** The REQUEST event a Lambda authorizer on `$connect` receives. */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  queryStringParameters?: Record<string, string | undefined> | null;
  requestContext?: Partial<WebSocketRequestContext>;
}

/** A route's integration response. On a two-way route, API Gateway sends `body` to the client. */
export interface RouteResponse {
  statusCode: number;
  body?: string;
  /** On `$connect`: `Sec-WebSocket-Protocol`, the only header API Gateway passes on. */
  headers?: Record<string, string>;
}
