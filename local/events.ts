/**
 * Pure formatting of the events API Gateway sends to a WebSocket API's integrations, shaped
 * like the captures in `test/fixtures/apigw-websocket/`. No I/O, no clock, no randomness: every
 * id and time comes in as an argument, so the output can be compared field by field.
 */

/** What the gateway knows about the API itself. */
export interface ApiInfo {
  apiId: string;
  stage: string;
  region: string;
  accountId: string;
}

/** What the gateway learnt from the handshake; fixed for the connection's life. */
export interface HandshakeInfo {
  connectionId: string;
  /** Epoch milliseconds when the upgrade request arrived. */
  connectedAt: number;
  sourceIp: string;
  userAgent?: string;
  /** The `Host` the client used; API Gateway's `domainName`. */
  domainName: string;
  /** The port the client connected to (`X-Forwarded-Port`). */
  serverPort: number;
  /** Node's `rawHeaders`: names in the client's casing, repeated names kept. */
  rawHeaders: readonly string[];
  /** The query string, decoded, in order; repeated names kept. */
  query: readonly (readonly [string, string])[];
}

/** Per-request values: API Gateway gives every event its own request id. */
export interface RequestStamp {
  requestId: string;
  /** Epoch milliseconds when the event was produced. */
  now: number;
  /** `X-Amzn-Trace-Id` added to the upgrade request's headers. */
  traceId?: string;
}

/** `requestContext.authorizer`: `principalId`, `integrationLatency` and the context's keys. */
export type AuthorizerContext = Record<string, string | number>;

type Headers = Record<string, string>;
type MultiValueHeaders = Record<string, string[]>;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * API Gateway's `requestTime`: `dd/Mon/yyyy:HH:mm:ss +0000`, always UTC.
 *
 * @example
 * formatRequestTime(Date.UTC(2024, 10, 11, 11, 35, 24)); // '11/Nov/2024:11:35:24 +0000'
 */
export function formatRequestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

/**
 * The ARN an authorizer's policy must allow: `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{routeKey}`.
 *
 * @example
 * methodArn({ apiId: 'abc', stage: 'local', region: 'us-east-1', accountId: '000000000000' }, '$connect');
 * // 'arn:aws:execute-api:us-east-1:000000000000:abc/local/$connect'
 */
export function methodArn(api: ApiInfo, routeKey: string): string {
  return `arn:aws:execute-api:${api.region}:${api.accountId}:${api.apiId}/${api.stage}/${routeKey}`;
}

/**
 * Route selection with the expression `$request.body.action`: a JSON object whose `action`
 * names a defined route goes there; anything else (not JSON, no action, an unknown one, a
 * binary-looking body) goes to `$default`, or nowhere when there is no `$default`. `$connect`
 * and `$disconnect` can never be selected by a message.
 *
 * @example
 * selectRoute('{"action":"chat"}', ['$default', 'chat']); // 'chat'
 * selectRoute('hello', ['$default', 'chat']);             // '$default'
 */
export function selectRoute(body: string, routeKeys: Iterable<string>): string | undefined {
  const keys = new Set(routeKeys);
  let action: unknown;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      action = (parsed as { action?: unknown }).action;
    }
  } catch {
    // Not JSON: $default.
  }
  if (typeof action === 'string' && action !== '$connect' && action !== '$disconnect') {
    if (keys.has(action)) return action;
  }
  return keys.has('$default') ? '$default' : undefined;
}

/**
 * `requestContext.authorizer` as API Gateway builds it from an Allow: the context's values as
 * strings, `principalId`, and how long the authorizer took.
 *
 * @example
 * formatAuthorizerContext('42', { userId: '42' }, 12);
 * // { userId: '42', principalId: '42', integrationLatency: 12 }
 */
export function formatAuthorizerContext(
  principalId: string,
  context: Record<string, string | number | boolean> | undefined,
  integrationLatencyMs: number,
): AuthorizerContext {
  const strings = Object.fromEntries(
    Object.entries(context ?? {}).map(([key, value]) => [key, String(value)]),
  );
  return { ...strings, principalId, integrationLatency: integrationLatencyMs };
}

/**
 * The REQUEST event a Lambda authorizer on `$connect` receives.
 *
 * @example
 * const event = formatAuthorizerEvent(handshake, api, { requestId, now: Date.now() });
 * event.methodArn; // 'arn:aws:execute-api:us-east-1:000000000000:local00000/local/$connect'
 */
export function formatAuthorizerEvent(handshake: HandshakeInfo, api: ApiInfo, stamp: RequestStamp) {
  const { headers, multiValueHeaders } = upgradeHeaders(handshake, stamp, { keepHopByHop: true });
  return {
    type: 'REQUEST' as const,
    methodArn: methodArn(api, '$connect'),
    headers,
    multiValueHeaders,
    ...queryParameters(handshake),
    stageVariables: {},
    requestContext: requestContext(handshake, api, stamp, {
      routeKey: '$connect',
      eventType: 'CONNECT',
    }),
    isBase64Encoded: false,
    body: null,
  };
}

/**
 * The `$connect` route event: the upgrade request's headers (without `Connection` and
 * `Upgrade`, with API Gateway's `X-Forwarded-*` and trace id), its query string when it had
 * one, and the authorizer's context.
 *
 * @example
 * const event = formatConnectEvent(handshake, api, authorizer, { requestId, now: Date.now() });
 */
export function formatConnectEvent(
  handshake: HandshakeInfo,
  api: ApiInfo,
  authorizer: AuthorizerContext | undefined,
  stamp: RequestStamp,
) {
  const { headers, multiValueHeaders } = upgradeHeaders(handshake, stamp, { keepHopByHop: false });
  return {
    headers,
    multiValueHeaders,
    ...queryParameters(handshake),
    requestContext: requestContext(handshake, api, stamp, {
      routeKey: '$connect',
      eventType: 'CONNECT',
      authorizer,
    }),
    isBase64Encoded: false,
  };
}

/**
 * A message event: no headers and no query string (those belong to `$connect`), its own
 * `messageId`, the frame as `body`.
 *
 * @example
 * formatMessageEvent(handshake, api, authorizer, '$default', '{"action":"ping"}', { requestId, now }, messageId);
 */
export function formatMessageEvent(
  handshake: HandshakeInfo,
  api: ApiInfo,
  authorizer: AuthorizerContext | undefined,
  routeKey: string,
  body: string,
  stamp: RequestStamp,
  messageId: string,
) {
  return {
    requestContext: requestContext(handshake, api, stamp, {
      routeKey,
      eventType: 'MESSAGE',
      messageId,
      authorizer,
    }),
    body,
    isBase64Encoded: false,
  };
}

/**
 * The `$disconnect` event: the fixed header set API Gateway sends (`Host`, and empty
 * `x-api-key`, `X-Forwarded-For`, `x-restapi`), the close code and reason, and, as on every
 * event of the connection, the authorizer's context.
 *
 * @example
 * formatDisconnectEvent(handshake, api, authorizer, { code: 1005, reason: 'Client-side close frame status not set' }, { requestId, now });
 */
export function formatDisconnectEvent(
  handshake: HandshakeInfo,
  api: ApiInfo,
  authorizer: AuthorizerContext | undefined,
  close: { code: number; reason: string },
  stamp: RequestStamp,
) {
  const headers: Headers = {
    Host: handshake.domainName,
    'x-api-key': '',
    'X-Forwarded-For': '',
    'x-restapi': '',
  };
  return {
    headers,
    multiValueHeaders: toMultiValue(headers),
    requestContext: requestContext(handshake, api, stamp, {
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: close.code,
      disconnectReason: close.reason,
      authorizer,
    }),
    isBase64Encoded: false,
  };
}

interface ContextExtras {
  routeKey: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  messageId?: string;
  disconnectStatusCode?: number;
  disconnectReason?: string;
  authorizer?: AuthorizerContext;
}

function requestContext(
  handshake: HandshakeInfo,
  api: ApiInfo,
  stamp: RequestStamp,
  extras: ContextExtras,
) {
  const identity: { sourceIp: string; userAgent?: string } = { sourceIp: handshake.sourceIp };
  if (handshake.userAgent !== undefined) identity.userAgent = handshake.userAgent;
  return {
    routeKey: extras.routeKey,
    ...(extras.messageId !== undefined && { messageId: extras.messageId }),
    ...(extras.disconnectStatusCode !== undefined && {
      disconnectStatusCode: extras.disconnectStatusCode,
    }),
    ...(extras.authorizer !== undefined && { authorizer: { ...extras.authorizer } }),
    eventType: extras.eventType,
    extendedRequestId: stamp.requestId,
    requestTime: formatRequestTime(stamp.now),
    messageDirection: 'IN' as const,
    ...(extras.disconnectReason !== undefined && { disconnectReason: extras.disconnectReason }),
    stage: api.stage,
    connectedAt: handshake.connectedAt,
    requestTimeEpoch: stamp.now,
    identity,
    requestId: stamp.requestId,
    domainName: handshake.domainName,
    connectionId: handshake.connectionId,
    apiId: api.apiId,
  };
}

// Hop-by-hop headers of the upgrade: the authorizer sees them, `$connect` does not (compare
// the captures authorizer-request.json and connect.json).
const HOP_BY_HOP = new Set(['connection', 'upgrade']);
// API Gateway sets these itself, whatever the client sent.
const REPLACED = new Set(['x-forwarded-port', 'x-forwarded-proto', 'x-amzn-trace-id']);

function upgradeHeaders(
  handshake: HandshakeInfo,
  stamp: RequestStamp,
  { keepHopByHop }: { keepHopByHop: boolean },
): { headers: Headers; multiValueHeaders: MultiValueHeaders } {
  const multi = new Map<string, { name: string; values: string[] }>();
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const entry = multi.get(key);
    if (entry) entry.values.push(value);
    else multi.set(key, { name, values: [value] });
  };
  let forwardedFor: string | undefined;
  for (let i = 0; i + 1 < handshake.rawHeaders.length; i += 2) {
    const name = handshake.rawHeaders[i] as string;
    const value = handshake.rawHeaders[i + 1] as string;
    const key = name.toLowerCase();
    if (!keepHopByHop && HOP_BY_HOP.has(key)) continue;
    if (REPLACED.has(key)) continue;
    if (key === 'x-forwarded-for') {
      // API Gateway appends the caller's address to a client-supplied X-Forwarded-For.
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    add(name, value);
  }
  if (stamp.traceId !== undefined) add('X-Amzn-Trace-Id', stamp.traceId);
  add(
    'X-Forwarded-For',
    forwardedFor === undefined ? handshake.sourceIp : `${forwardedFor}, ${handshake.sourceIp}`,
  );
  add('X-Forwarded-Port', String(handshake.serverPort));
  // The local stack speaks plain ws:// (API Gateway: "https").
  add('X-Forwarded-Proto', 'http');

  const headers: Headers = {};
  const multiValueHeaders: MultiValueHeaders = {};
  for (const { name, values } of multi.values()) {
    // Like REST APIs, the single-value map keeps the last value of a repeated header.
    headers[name] = values[values.length - 1] as string;
    multiValueHeaders[name] = values;
  }
  return { headers, multiValueHeaders };
}

function queryParameters(handshake: HandshakeInfo) {
  // Present only when the URL had a query string.
  if (handshake.query.length === 0) return {};
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of handshake.query) {
    single[name] = value; // the last value wins
    const list = multi[name];
    if (list) list.push(value);
    else multi[name] = [value];
  }
  return { queryStringParameters: single, multiValueQueryStringParameters: multi };
}

function toMultiValue(headers: Headers): MultiValueHeaders {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]]));
}
