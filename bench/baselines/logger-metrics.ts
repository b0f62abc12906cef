import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * What publishing metrics adds to a handler's cold start: the Powertools Logger every handler
 * builds, and the Powertools Metrics the publishing ones build beside it (compare with the bare
 * Logger of the same run). Bundled by CDK exactly like the real handlers.
 */
const log = new Logger({ serviceName: 'tripsync-realtime' });
const metrics = new Metrics({ serviceName: 'tripsync-realtime', namespace: 'TripSyncRealtime' });

export async function handler(): Promise<string> {
  return typeof log.info + typeof metrics.addMetric;
}
