import { randomBytes, randomUUID } from 'node:crypto';

/**
 * An identifier in API Gateway's format: 11 random bytes as URL-safe base64 with its `=` pad,
 * 16 characters like `BFaT_fALIAMCKug=`. Used for connection, request and message ids. The `=`
 * must be URL-encoded in `@connections/{id}` paths, which catches clients that forget to.
 *
 * @example
 * apiGatewayId(); // 'TXzPWdnOjoECGjA='
 */
export function apiGatewayId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

/**
 * A Lambda request id (a UUID), as in `x-amzn-RequestId` and `context.awsRequestId`.
 *
 * @example
 * lambdaRequestId(); // '3f1c…'
 */
export function lambdaRequestId(): string {
  return randomUUID();
}

/**
 * An X-Ray trace header as API Gateway adds it to `$connect` events.
 *
 * @example
 * traceId(Date.now()); // 'Root=1-6731ebfc-08e1e656421db73c5d2eef31'
 */
export function traceId(epochMs: number): string {
  const seconds = Math.floor(epochMs / 1000).toString(16);
  return `Root=1-${seconds}-${randomBytes(12).toString('hex')}`;
}
