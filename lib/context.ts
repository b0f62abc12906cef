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
    'alarms',
    'dashboard',
    'notificationRule',
    'presenceEvents',
  ],
} as const;

/**
 * Reads the stack's settings from CDK context. `-c` values arrive as strings; booleans accept
 * `true` or `false`. Anything else is refused with the key and the value received.
 *
 * @example
 * // npx cdk deploy -c jwksUrl=https://issuer.example/jwks.json -c jwtIssuer=https://issuer.example -c jwtAudience=tripsync
 * const props = stackPropsFromContext(app.node);
 */
export function stackPropsFromContext(node: Node): TripSyncRealtimeStackProps {
  const props: Record<string, string | boolean> = {};
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
  for (const key of CONTEXT_KEYS.booleans) {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined) continue;
    if (value === true || value === 'true') props[key] = true;
    else if (value === false || value === 'false') props[key] = false;
    else {
      throw new Error(`context ${key} must be true or false, received ${JSON.stringify(value)}`);
    }
  }
  return props as TripSyncRealtimeStackProps;
}
