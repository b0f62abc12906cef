import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { lambdaRequestId } from './ids';

/** How long the local servers keep an idle keep-alive connection open. */
export const IDLE_CONNECTION_MS = 60_000;
/** Above the keep-alive timeout, so that the header timer never closes an idle socket first. */
export const HEADERS_TIMEOUT_MS = IDLE_CONNECTION_MS + 1000;

/**
 * Keeps a server's idle keep-alive connections open for {@link IDLE_CONNECTION_MS}, not Node's
 * default of about 6 s. SDK clients keep idle sockets in their pool with no timeout of their own,
 * and a request written on one just as the server closes it fails with ECONNRESET before it
 * arrives. A server's `stop()` must then close idle connections itself.
 *
 * @example
 * const server = createServer(handler);
 * keepIdleConnections(server);
 */
export function keepIdleConnections(server: Server): void {
  server.keepAliveTimeout = IDLE_CONNECTION_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
}

/** A request body read up to a limit; `tooLarge` when the client sent more. */
export interface ReadBody {
  body: Buffer;
  tooLarge: boolean;
}

/** Bodies past this are not even drained: the socket is dropped after the error response. */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * Reads a request body, keeping at most `maxBytes`. A larger body is drained (so the client
 * reads the error response instead of a reset) up to 16 MB, then the socket is dropped.
 *
 * @example
 * const { body, tooLarge } = await readBody(req, 128 * 1024);
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= maxBytes) chunks.push(chunk);
      else if (received > DRAIN_LIMIT_BYTES) req.destroy();
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge: received > maxBytes }));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) resolve({ body: Buffer.alloc(0), tooLarge: received > maxBytes });
    });
  });
}

/**
 * An AWS JSON error response: the status, `x-amzn-ErrorType` (which the SDKs, boto3 and the
 * CLI read to pick the exception class) and a JSON body.
 *
 * @example
 * sendAwsError(res, 410, 'GoneException', { message: 'Gone' });
 */
export function sendAwsError(
  res: ServerResponse,
  status: number,
  errorType: string,
  body: Record<string, unknown>,
): void {
  sendJson(res, status, body, { 'x-amzn-ErrorType': errorType });
}

/**
 * A JSON response with an `x-amzn-RequestId`, as every AWS API answers.
 *
 * @example
 * sendJson(res, 200, { connectedAt: '2024-11-11T13:45:35.513Z' });
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': lambdaRequestId(),
    ...headers,
  });
  res.end(text);
}

/**
 * An empty response (200 to a post, 204 to a delete, 202 to an `Event` invoke).
 *
 * @example
 * sendEmpty(res, 204);
 */
export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Length': 0, 'x-amzn-RequestId': lambdaRequestId(), ...headers });
  res.end();
}

/**
 * The first group of `pattern` in `pathname`, URL-decoded; `undefined` when the path does not
 * match or its encoding is broken (both APIs then answer as for an unknown route).
 *
 * @example
 * decodedPathParameter(/^\/@connections\/([^/]+)$/, '/@connections/BFaT_fALIAMCKug%3D'); // 'BFaT_fALIAMCKug='
 */
export function decodedPathParameter(pattern: RegExp, pathname: string): string | undefined {
  const match = pattern.exec(pathname);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1] as string);
  } catch {
    return undefined;
  }
}
