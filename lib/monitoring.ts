import { Duration } from 'aws-cdk-lib';
import type { WebSocketApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Operation, type Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_NAMES, type FunctionName } from '../lambdas/manifest';
import { ALARM_DEFAULTS, type AlarmThresholdName, SERVICE_NAME } from '../lambdas/shared/limits';
import {
  CLIENT_REFUSAL_REASONS,
  METRICS,
  type MetricName,
  REFUSAL_REASON_DIMENSION,
  REFUSAL_REASONS,
  type RefusalReason,
  SERVICE_DIMENSION,
} from '../lambdas/shared/metrics';

/** Where the runbook of every alarm is. */
const RUNBOOK = 'docs/operating.md';

/** What {@link RealtimeMonitoring} watches and how. */
export interface RealtimeMonitoringProps {
  /** The namespace the functions publish their metrics in. */
  namespace: string;
  functions: { readonly [name in FunctionName]: IFunction };
  api: WebSocketApi;
  stageName: string;
  table: Table;
  messageLogTable: Table;
  queue: Queue;
  deadLetterQueue: Queue;
  alarms: boolean;
  thresholds: Record<AlarmThresholdName, number>;
  alarmTopic?: ITopic;
  dashboard: boolean;
}

/**
 * The backend's alarms and its dashboard. Every alarm looks at one 5-minute period and fires
 * when its figure reaches its threshold; missing data is not breaching (a quiet backend is a
 * healthy one). Each alarm's description names its runbook section in docs/operating.md. With a
 * topic, each alarm notifies it when it fires and when it recovers.
 *
 * Construct ids are part of the contract: `Dashboard`, and one alarm per name below
 * (`AuthorizerErrors`, `SendThrottles`, `FailedPosts`, …).
 *
 * @example
 * new RealtimeMonitoring(this, 'Monitoring', { namespace: 'TripSyncRealtime/Prod', functions,
 *   api, stageName: 'live', table, messageLogTable, queue, deadLetterQueue, alarms: true,
 *   thresholds: ALARM_DEFAULTS.thresholds, dashboard: true });
 */
export class RealtimeMonitoring extends Construct {
  /** The alarms by construct id; empty when alarms are off. */
  readonly alarms: Record<string, Alarm> = {};
  readonly dashboard?: Dashboard;

  constructor(scope: Construct, id: string, props: RealtimeMonitoringProps) {
    super(scope, id);
    const period = Duration.seconds(ALARM_DEFAULTS.periodSeconds);
    const custom = (name: MetricName, statistic: string = Stats.SUM, label?: string) =>
      new Metric({
        namespace: props.namespace,
        metricName: name,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME },
        statistic,
        period,
        label,
      });
    const refusals = (reason: RefusalReason) =>
      new Metric({
        namespace: props.namespace,
        metricName: METRICS.handshakesRefused,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME, [REFUSAL_REASON_DIMENSION]: reason },
        statistic: Stats.SUM,
        period,
        label: `refused: ${reason}`,
      });
    const api = (metricName: string, statistic: string = Stats.SUM) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.api.apiId, Stage: props.stageName },
        statistic,
        period,
      });
    const lambda = (name: FunctionName, metricName: string) =>
      new Metric({
        namespace: 'AWS/Lambda',
        metricName,
        dimensionsMap: { FunctionName: props.functions[name].functionName },
        statistic: Stats.SUM,
        period,
        label: `${name} ${metricName}`,
      });

    // The authorizer throws `Unauthorized` for every token it refuses on purpose, and Lambda
    // counts each as an error: its alarm counts the errors that are not such refusals.
    const authorizerFailures = new MathExpression({
      expression: `FILL(errors, 0) - ${CLIENT_REFUSAL_REASONS.map((_, i) => `FILL(r${i}, 0)`).join(' - ')}`,
      usingMetrics: {
        errors: lambda('authorizer', 'Errors'),
        ...Object.fromEntries(
          CLIENT_REFUSAL_REASONS.map((reason, i) => [`r${i}`, refusals(reason)]),
        ),
      },
      label: 'authorizer errors, less the tokens it refused',
      period,
    });
    const asyncDropped = new MathExpression({
      expression: 'FILL(dropped, 0) + FILL(undelivered, 0)',
      usingMetrics: {
        dropped: lambda('send', 'AsyncEventsDropped'),
        undelivered: lambda('send', 'DestinationDeliveryFailures'),
      },
      label: 'send Event invocations dropped or not delivered to the DLQ',
      period,
    });
    // Both tables, the operations the functions use on each: 9 metrics, within the 10 an
    // alarm may read.
    const throttled = (prefix: string, table: Table, operations: Operation[]) =>
      Object.fromEntries(
        operations.map((operation) => [
          `${prefix}${operation.toLowerCase()}`,
          table.metric('ThrottledRequests', {
            dimensionsMap: { TableName: table.tableName, Operation: operation },
            statistic: Stats.SUM,
            period,
          }),
        ]),
      );
    const throttleMetrics = {
      ...throttled('connections', props.table, [
        Operation.PUT_ITEM,
        Operation.DELETE_ITEM,
        Operation.QUERY,
        Operation.GET_ITEM,
        Operation.UPDATE_ITEM,
      ]),
      ...throttled('messages', props.messageLogTable, [
        Operation.GET_ITEM,
        Operation.PUT_ITEM,
        Operation.UPDATE_ITEM,
        Operation.QUERY,
      ]),
    };
    const tableThrottles = new MathExpression({
      expression: Object.keys(throttleMetrics)
        .map((id) => `FILL(${id}, 0)`)
        .join(' + '),
      usingMetrics: throttleMetrics,
      label: 'DynamoDB throttled requests (connections, message log)',
      period,
    });
    const deadLetters = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      statistic: Stats.MAXIMUM,
      period,
    });
    const queueAge = props.queue.metricApproximateAgeOfOldestMessage({
      statistic: Stats.MAXIMUM,
      period,
    });

    if (props.alarms) {
      const alarm = (
        alarmId: string,
        metric: IMetric,
        threshold: number,
        what: string,
        runbook: string,
      ) => {
        const created = new Alarm(this, alarmId, {
          metric,
          threshold,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
          alarmDescription: `TripSync realtime: ${what} (at least ${threshold} in 5 minutes). What to do: ${RUNBOOK}#${runbook}`,
        });
        if (props.alarmTopic) {
          created.addAlarmAction(new SnsAction(props.alarmTopic));
          created.addOkAction(new SnsAction(props.alarmTopic));
        }
        this.alarms[alarmId] = created;
        return created;
      };
      const t = props.thresholds;
      for (const name of FUNCTION_NAMES) {
        const title = `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
        alarm(
          `${title}Errors`,
          name === 'authorizer' ? authorizerFailures : lambda(name, 'Errors'),
          t.functionErrors,
          `the ${name} function failed`,
          'function-errors',
        );
        alarm(
          `${title}Throttles`,
          lambda(name, 'Throttles'),
          t.functionThrottles,
          `Lambda throttled the ${name} function`,
          'function-throttles',
        );
      }
      alarm(
        'FailedPosts',
        custom(METRICS.messagesFailed),
        t.failedPosts,
        'posts to connections failed after their attempts',
        'failed-posts',
      );
      alarm(
        'AsyncEventsDropped',
        asyncDropped,
        t.asyncEventsDropped,
        'Event invocations of send were dropped',
        'async-events-dropped',
      );
      alarm(
        'AuthProviderUnavailable',
        refusals('auth_unavailable'),
        t.authProviderUnavailable,
        'handshakes were refused because the JWKS or the HS256 secret could not be read',
        'auth-provider-unavailable',
      );
      alarm(
        'ApiIntegrationErrors',
        api('IntegrationError'),
        t.apiIntegrationErrors,
        'route functions failed or answered an error to API Gateway',
        'api-integration-errors',
      );
      alarm(
        'ApiExecutionErrors',
        api('ExecutionError'),
        t.apiExecutionErrors,
        'API Gateway could not run an integration',
        'api-execution-errors',
      );
      alarm(
        'TableThrottles',
        tableThrottles,
        t.tableThrottles,
        'DynamoDB throttled requests on the connection table or the message log',
        'table-throttles',
      );
      alarm(
        'DeadLetterMessages',
        deadLetters,
        t.deadLetterMessages,
        'messages are waiting on the dead-letter queue',
        'dead-letter-messages',
      );
      alarm(
        'QueueBacklog',
        queueAge,
        t.queueOldestMessageAgeSeconds,
        'the oldest message on the notification queue is getting old (seconds)',
        'queue-backlog',
      );
    }

    if (props.dashboard) {
      const perFunction = (metricName: string) =>
        FUNCTION_NAMES.map((name) => lambda(name, metricName));
      const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
        new GraphWidget({ title, left, right, width: 12, height: 6 });
      const widgets = [
        graph(
          'Are messages getting through?',
          [
            custom(METRICS.messagesDelivered, Stats.SUM, 'delivered'),
            custom(METRICS.messagesStale, Stats.SUM, 'stale (connection gone)'),
            custom(METRICS.messagesFailed, Stats.SUM, 'failed'),
            custom(METRICS.messagesNotAttempted, Stats.SUM, 'not attempted (out of time)'),
            custom(METRICS.messagesReplayed, Stats.SUM, 'replayed after a reconnect (resume)'),
          ],
          [custom(METRICS.sendsRejected, Stats.SUM, 'payloads rejected')],
        ),
        graph('How long does a send take?', [
          custom(METRICS.sendDuration, Stats.p(50), 'p50'),
          custom(METRICS.sendDuration, Stats.p(99), 'p99'),
        ]),
        graph(
          'Are clients getting in?',
          [
            custom(METRICS.connectionsOpened, Stats.SUM, 'opened'),
            custom(METRICS.connectionsClosed, Stats.SUM, 'closed'),
          ],
          REFUSAL_REASONS.map(refusals),
        ),
        graph('Is anything throttled?', perFunction('Throttles'), [tableThrottles]),
        graph(
          'Is anything failing?',
          [...perFunction('Errors')],
          [api('IntegrationError'), api('ExecutionError'), refusals('auth_unavailable')],
        ),
        graph(
          'Is the producer path keeping up?',
          [
            props.queue.metricApproximateNumberOfMessagesVisible({ period, label: 'queued' }),
            props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
              period,
              label: 'dead letters',
            }),
            custom(METRICS.queueRecordsRetried, Stats.SUM, 'records returned for redelivery'),
            custom(METRICS.queueRecordsDeadLettered, Stats.SUM, 'bad payloads to the DLQ'),
            asyncDropped,
          ],
          [queueAge],
        ),
      ];
      this.dashboard = new Dashboard(this, 'Dashboard', {
        widgets: [
          ...(props.alarms
            ? [
                [
                  new AlarmStatusWidget({
                    title: 'What is alarming?',
                    alarms: Object.values(this.alarms),
                    width: 24,
                    height: 4,
                  }),
                ],
              ]
            : []),
          widgets.slice(0, 2),
          widgets.slice(2, 4),
          widgets.slice(4, 6),
        ],
      });
    }
  }
}
