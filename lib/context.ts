import type { Node } from 'constructs';
import type { TripSyncRealtimeStackProps } from './tripsync-realtime-stack';

/**
 * The CDK context keys `lib/app.ts` reads (`cdk deploy -c key=value`), each mapped to the
 * stack property of the same name.
 */
export const CONTEXT_KEYS = {
  strings: [
    'jwtSecretArn',
    'jwksUrl',
    'jwtIssuer',
    'jwtAudience',
    'stageName',
    'metricsNamespace',
    'alarmTopicArn',
    'eventBusName',
  ],
  booleans: [
    'createJwtSecret',
    'apiGatewayCloudWatchRole',
    'accessLogging',
    'reserveConcurrency',
    'alarms',
    'dashboard',
    'notificationRule',
    'presenceEvents',
  ],
  integers: [
    'maxConnectionsPerUser',
    'jwtMaxLifetimeSeconds',
    'frameThrottlingRateLimitPerSecond',
    'frameThrottlingBurstLimit',
    'authorizerReservedConcurrency',
    'defaultRouteReservedConcurrency',
    'sendReservedConcurrency',
    'disconnectReservedConcurrency',
  ],
} as const;

/**
 * Reads the stack's settings from CDK context. `-c` values arrive as strings; booleans accept
 * `true` or `false`, integers digits only, and `jwtIssuer` several issuers separated by commas.
 * Anything else is refused with the key and the value received; the ranges are the props'.
 *
 * @example
 * // npx cdk deploy -c jwksUrl=https://issuer.example/jwks.json -c jwtIssuer=https://issuer.example -c maxConnectionsPerUser=10
 * const props = stackPropsFromContext(app.node);
 */
export function stackPropsFromContext(node: Node): TripSyncRealtimeStackProps {
  const props: Record<string, string | readonly string[] | boolean | number> = {};
  for (const key of CONTEXT_KEYS.strings) {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new Error(
        `context ${key} must be a non-empty string, received ${JSON.stringify(value)}`,
      );
    }
    props[key] = value.trim();
  }
  const issuer = props.jwtIssuer;
  if (typeof issuer === 'string' && issuer.includes(',')) {
    props.jwtIssuer = issuer.split(',').map((one) => one.trim());
  }
  for (const key of CONTEXT_KEYS.booleans) {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined) continue;
    if (value === true || value === 'true') props[key] = true;
    else if (value === false || value === 'false') props[key] = false;
    else {
      throw new Error(`context ${key} must be true or false, received ${JSON.stringify(value)}`);
    }
  }
  for (const key of CONTEXT_KEYS.integers) {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined) continue;
    if (typeof value === 'number' && Number.isInteger(value)) props[key] = value;
    else if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) props[key] = Number(value);
    else {
      throw new Error(`context ${key} must be a whole number, received ${JSON.stringify(value)}`);
    }
  }
  return props as TripSyncRealtimeStackProps;
}
