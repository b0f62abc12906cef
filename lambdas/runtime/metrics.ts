import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SendReport } from '../core/send';
import { SERVICE_NAME } from '../shared/limits';
import {
  METRICS,
  METRICS_NAMESPACE_PREFIX,
  REFUSAL_REASON_DIMENSION,
  type RefusalReason,
} from '../shared/metrics';

/**
 * One Powertools Metrics per container. `POWERTOOLS_METRICS_NAMESPACE` sets the namespace (the
 * construct's `metricsNamespace`), `POWERTOOLS_SERVICE_NAME` the `service` dimension; both
 * default as the logger's do. `POWERTOOLS_METRICS_DISABLED=true` silences it (the local stack
 * does when its handler log level is `SILENT`). Each flush is one EMF JSON line on stdout, which
 * CloudWatch Logs turns into metrics: no agent, no API call, no IAM permission.
 *
 * @example
 * const metrics = createMetrics();
 * metrics.addMetric(METRICS.connectionsOpened, MetricUnit.Count, 1);
 * publishMetrics(metrics);
 */
export function createMetrics(): Metrics {
  // Powertools prefers constructor options to the environment: only default them.
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ? undefined : METRICS_NAMESPACE_PREFIX,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ? undefined : SERVICE_NAME,
  });
}

/**
 * Flushes what the invocation added, as one EMF line; nothing when it added nothing (Powertools
 * would warn about an empty flush).
 *
 * @example
 * try { ... } finally { publishMetrics(metrics); }
 */
export function publishMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * Counts one refused handshake with its reason class, as a line of its own: its `Reason`
 * dimension must not attach to the invocation's other metrics.
 *
 * @example
 * countRefusal(metrics, 'expired_token');
 */
export function countRefusal(metrics: Metrics, reason: RefusalReason): void {
  const single = metrics.singleMetric();
  single.addDimension(REFUSAL_REASON_DIMENSION, reason);
  single.addMetric(METRICS.handshakesRefused, MetricUnit.Count, 1);
}

/**
 * Adds what one send did: its posts delivered, stale, failed and not attempted, and how long it
 * took. Zeros are added too, so the dashboard draws 0 rather than a gap.
 *
 * @example
 * recordSend(metrics, report, performance.now() - started);
 */
export function recordSend(metrics: Metrics, report: SendReport, durationMs: number): void {
  metrics.addMetric(METRICS.messagesDelivered, MetricUnit.Count, report.delivered);
  metrics.addMetric(METRICS.messagesStale, MetricUnit.Count, report.stale);
  metrics.addMetric(METRICS.messagesFailed, MetricUnit.Count, report.failed);
  metrics.addMetric(METRICS.messagesNotAttempted, MetricUnit.Count, report.notAttempted);
  metrics.addMetric(METRICS.sendDuration, MetricUnit.Milliseconds, Math.round(durationMs));
}
