import { Logger } from '@aws-lambda-powertools/logger';

/**
 * A reference for the handlers without an SDK client (default, a JWKS-only authorizer): the
 * Powertools Logger every handler builds at import, and nothing else. Bundled by CDK exactly
 * like the real handlers.
 */
const log = new Logger({ serviceName: 'tripsync-realtime' });

export async function handler(): Promise<string> {
  return typeof log.info;
}
