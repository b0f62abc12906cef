import type { IncomingMessage, ServerResponse } from 'node:http';
import { AWS_LIMITS } from '../lambdas/shared/limits';
import { GATEWAY_CLOSES } from './connection';
import { decodedPathParameter, readBody, sendAwsError, sendEmpty, sendJson } from './http';
import type { ConnectionRegistry } from './registry';

/**
 * `/@connections/{id}` or `/{stage}/@connections/{id}`; boto3 may encode the `@`. The id is
 * URL-encoded by every SDK (`=` becomes `%3D`).
 */
const PATH = /^\/(?:[A-Za-z0-9_-]+\/)?(?:@|%40)connections\/([^/]+)\/?$/;

/**
 * Recognises a Management API request.
 *
 * @example
 * managementConnectionId('/@connections/BFaT_fALIAMCKug%3D'); // 'BFaT_fALIAMCKug='
 */
export function managementConnectionId(pathname: string): string | undefined {
  return decodedPathParameter(PATH, pathname);
}

/**
 * The API Gateway Management API (`@connections`) in AWS's REST-JSON wire format, so the SDK
 * client, boto3 and `aws apigatewaymanagementapi --endpoint-url` work unchanged. Signatures are
 * not checked: any `Authorization` header, or none, is accepted.
 *
 * - `POST` writes the body to the socket: 200, 410 `GoneException` for an unknown or closed
 *   connection, 413 `PayloadTooLargeException` over 128 KiB.
 * - `GET` answers `connectedAt`, `identity` and `lastActiveAt` (ISO 8601, as the SDK expects).
 * - `DELETE` closes the socket (1000) and answers 204; `$disconnect` follows.
 *
 * @example
 * const id = managementConnectionId(url.pathname);
 * if (id !== undefined) return handleManagementRequest(req, res, id, registry);
 */
export async function handleManagementRequest(
  req: IncomingMessage,
  res: ServerResponse,
  connectionId: string,
  registry: ConnectionRegistry,
): Promise<void> {
  switch (req.method) {
    case 'POST': {
      const { body, tooLarge } = await readBody(req, AWS_LIMITS.maxMessageBytes);
      if (tooLarge) {
        return sendAwsError(res, 413, 'PayloadTooLargeException', {
          message: `Request entity too large: the limit is ${AWS_LIMITS.maxMessageBytes} bytes (128 KiB)`,
        });
      }
      const connection = registry.get(connectionId);
      if (!connection || !(await connection.post(body))) return gone(res);
      return sendEmpty(res, 200);
    }
    case 'GET': {
      req.resume();
      const connection = registry.get(connectionId);
      if (!connection) return gone(res);
      const { userAgent, sourceIp } = connection.handshake;
      return sendJson(res, 200, {
        connectedAt: new Date(connection.handshake.connectedAt).toISOString(),
        identity: { sourceIp, ...(userAgent !== undefined && { userAgent }) },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
    }
    case 'DELETE': {
      req.resume();
      const connection = registry.get(connectionId);
      if (!connection) return gone(res);
      connection.closeWith(GATEWAY_CLOSES.deleted);
      return sendEmpty(res, 204);
    }
    default:
      req.resume();
      return sendAwsError(res, 405, 'MethodNotAllowedException', {
        message: `${req.method} is not a Management API method; use POST, GET or DELETE`,
      });
  }
}

function gone(res: ServerResponse): void {
  sendAwsError(res, 410, 'GoneException', { message: 'Gone' });
}
