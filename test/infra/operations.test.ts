import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Match } from 'aws-cdk-lib/assertions';
import type { EventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import GithubSlugger from 'github-slugger';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, functionsTriggeredBy } from '../../lambdas/manifest';
import { ALARM_DEFAULTS } from '../../lambdas/shared/limits';
import { METRICS, REFUSAL_REASON_DIMENSION, SERVICE_DIMENSION } from '../../lambdas/shared/metrics';
import { TripSyncRealtimePropsError } from '../../lib';
import {
  allStatements,
  asArray,
  logicalId,
  type SynthesizedStack,
  statementsOfRole,
  synthesizeStack,
} from '../support/cdk-stack';

// The operations side of the template: the notification queue and its dead-letter queue, the
// event source mapping, the `Event` invoke config, the optional rule, presence and its events,
// the alarms and the dashboard. The template is the same bundled or not: no bundling here.

let defaults: SynthesizedStack;
let everything: SynthesizedStack;
let quiet: SynthesizedStack;
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:tripsync-alarms';

beforeAll(() => {
  const producer = (stack: SynthesizedStack['stack']) => {
    const role = new iam.Role(stack, 'Producer', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    stack.realtime.grantEnqueue(role);
    stack.realtime.grantPresence(role);
  };
  defaults = synthesizeStack({}, { bundle: false, extend: producer });
  everything = synthesizeStack(
    {
      notificationRule: true,
      presenceEvents: true,
      alarmTopicArn: TOPIC_ARN,
      alarmThresholds: { failedPosts: 50, deadLetterMessages: 3 },
      queueMaxReceiveCount: 8,
      queueBatchSize: 4,
      queueMaxBatchingWindowSeconds: 2,
      sendRetryAttempts: 1,
      sendMaxEventAgeSeconds: 600,
      sendTimeoutSeconds: 60,
      metricsNamespace: 'Prod/Realtime',
    },
    { bundle: false },
  );
  quiet = synthesizeStack({ alarms: false, dashboard: false }, { bundle: false });
});

/** An alarm's metric, whether CloudFormation has it flat or in its `Metrics` list. */
interface AlarmMetricStat {
  Id: string;
  Expression?: string;
  MetricStat?: {
    Metric: {
      Namespace: string;
      MetricName: string;
      Dimensions?: { Name: string; Value: unknown }[];
    };
    Stat: string;
    Period: number;
  };
}
interface AlarmProperties {
  Namespace?: string;
  MetricName?: string;
  Dimensions?: { Name: string; Value: unknown }[];
  Metrics?: AlarmMetricStat[];
  [key: string]: unknown;
}

/** The metrics an alarm reads (one, or those of its math expression). */
function metricsOf(alarm: AlarmProperties) {
  if (alarm.Metrics === undefined) {
    return [
      {
        Namespace: alarm.Namespace as string,
        MetricName: alarm.MetricName as string,
        Dimensions: alarm.Dimensions ?? [],
      },
    ];
  }
  return alarm.Metrics.flatMap((m) =>
    m.MetricStat
      ? [{ ...m.MetricStat.Metric, Dimensions: m.MetricStat.Metric.Dimensions ?? [] }]
      : [],
  );
}

const resources = (synth: SynthesizedStack, type: string) =>
  Object.values(synth.template.findResources(type)).map((r) => r.Properties);
const roleOf = (synth: SynthesizedStack, name: (typeof FUNCTION_NAMES)[number]) =>
  logicalId(synth.stack.realtime.functions[name].role as iam.IRole);

describe('the notification queue', () => {
  it('is encrypted, SSL-only, with a dead-letter queue after 5 receives', () => {
    // Prepare
    const dlq = logicalId(defaults.stack.realtime.deadLetterQueue);

    // Assess: visibility 6 × the consumer's 30 s timeout; 256 KiB messages, as locally.
    defaults.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 4 * 24 * 3600,
      MaximumMessageSize: 262_144,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 5 },
    });
    defaults.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      RedrivePolicy: Match.absent(),
    });
    for (const policy of resources(defaults, 'AWS::SQS::QueuePolicy')) {
      expect(policy.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('follows the props: receives, batch, batching window, and a longer consumer timeout', () => {
    everything.template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 360,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 8 }),
    });
    everything.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 4,
      MaximumBatchingWindowInSeconds: 2,
    });
  });

  it('feeds the queue consumer, reporting partial batch failures, and nothing else', () => {
    // Act
    const mappings = resources(defaults, 'AWS::Lambda::EventSourceMapping');

    // Assess
    expect(functionsTriggeredBy('queue')).toEqual(['sendQueue']);
    expect(mappings).toEqual([
      {
        EventSourceArn: {
          'Fn::GetAtt': [logicalId(defaults.stack.realtime.notificationQueue), 'Arn'],
        },
        FunctionName: { Ref: logicalId(defaults.stack.realtime.functions.sendQueue) },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      },
    ]);
  });

  it('lets the consumer receive from the queue and send to the dead-letter queue only', () => {
    // Act
    const sqs = statementsOfRole(defaults.template, roleOf(defaults, 'sendQueue')).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('sqs:')),
    );

    // Assess
    const queue = { 'Fn::GetAtt': [logicalId(defaults.stack.realtime.notificationQueue), 'Arn'] };
    const dlq = { 'Fn::GetAtt': [logicalId(defaults.stack.realtime.deadLetterQueue), 'Arn'] };
    expect(sqs).toEqual(
      expect.arrayContaining([
        { Sid: 'RejectBadPayloads', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: dlq },
        expect.objectContaining({
          Action: expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']),
          Resource: queue,
        }),
      ]),
    );
    expect(sqs).toHaveLength(2);
  });

  it('grantEnqueue allows SendMessage and GetQueueUrl on the queue only', () => {
    const producer = logicalId(defaults.stack.node.findChild('Producer'));
    expect(statementsOfRole(defaults.template, producer)).toContainEqual({
      Effect: 'Allow',
      Action: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
      Resource: {
        'Fn::GetAtt': [logicalId(defaults.stack.realtime.notificationQueue), 'Arn'],
      },
    });
  });
});

describe('Event invocations of send', () => {
  it('are retried twice for up to 6 hours, then go to the dead-letter queue', () => {
    // Act
    const configs = resources(defaults, 'AWS::Lambda::EventInvokeConfig');

    // Assess
    expect(configs).toEqual([
      {
        FunctionName: { Ref: logicalId(defaults.stack.realtime.sendFunction) },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21_600,
        DestinationConfig: {
          OnFailure: {
            Destination: {
              'Fn::GetAtt': [logicalId(defaults.stack.realtime.deadLetterQueue), 'Arn'],
            },
          },
        },
      },
    ]);
    everything.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 600,
    });
  });

  it('let send put its failures on the dead-letter queue (SendMessage only)', () => {
    expect(
      statementsOfRole(defaults.template, roleOf(defaults, 'send')).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('sqs:')),
      ),
    ).toEqual([
      {
        Sid: 'AsyncFailuresToDeadLetterQueue',
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': [logicalId(defaults.stack.realtime.deadLetterQueue), 'Arn'] },
      },
    ]);
  });
});

describe('the EventBridge rule', () => {
  it('is not created by default', () => {
    defaults.template.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('delivers the detail of TripSync Notification events into the queue, failures to the DLQ', () => {
    // Prepare
    const queue = logicalId(everything.stack.realtime.notificationQueue);
    const dlq = logicalId(everything.stack.realtime.deadLetterQueue);
    const rule = logicalId(everything.stack.realtime.notificationRule as never);

    // Assess
    everything.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'default',
      EventPattern: { 'detail-type': ['TripSync Notification'] },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [queue, 'Arn'] },
          Id: 'Target0',
          InputPath: '$.detail',
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        },
      ],
    });
    // Only this rule may send to the queue, through the queue's policy.
    everything.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('listens on the bus given', () => {
    // Act
    const synth = synthesizeStack(
      { notificationRule: true, eventBusName: 'tripsync-bus' },
      { bundle: false },
    );

    // Assess
    synth.template.hasResourceProperties('AWS::Events::Rule', { EventBusName: 'tripsync-bus' });
  });
});

describe('presence', () => {
  it('is a function producers invoke, granted by grantPresence alone', () => {
    const producer = logicalId(defaults.stack.node.findChild('Producer'));
    expect(statementsOfRole(defaults.template, producer)).toContainEqual({
      Effect: 'Allow',
      Action: 'lambda:InvokeFunction',
      Resource: { 'Fn::GetAtt': [logicalId(defaults.stack.realtime.presenceFunction), 'Arn'] },
    });
  });

  it('puts no events by default: nothing may PutEvents, disconnect reads no table rows', () => {
    // Act
    const putEvents = allStatements(defaults.template).filter((s) =>
      asArray(s.Action).includes('events:PutEvents'),
    );
    const connectEnv = resources(defaults, 'AWS::Lambda::Function').find(
      (f) => f.Description === 'TripSync realtime: records a connection ($connect)',
    )?.Environment.Variables;

    // Assess
    expect(putEvents).toEqual([]);
    expect(connectEnv).not.toHaveProperty('PRESENCE_EVENT_BUS');
    // disconnect finds an owner through the index only; connect's Query is the cap's.
    expect(
      statementsOfRole(defaults.template, roleOf(defaults, 'disconnect'))
        .filter((s) => asArray(s.Action).includes('dynamodb:Query'))
        .map((s) => s.Sid),
    ).toEqual(['FindConnectionOwner']);
  });

  it('with presenceEvents, lets connect and disconnect PutEvents on the bus, and disconnect count rows', () => {
    for (const name of ['connect', 'disconnect'] as const) {
      // Act
      const statements = statementsOfRole(everything.template, roleOf(everything, name));

      // Assess
      expect(statements).toContainEqual({
        Sid: 'PublishPresenceEvents',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':events:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':event-bus/default',
            ],
          ],
        },
      });
      // connect tells a first connection from the rows its cap's Query reads: no grant more.
      const count = {
        Sid: 'CountConnectionsForPresence',
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: { 'Fn::GetAtt': [logicalId(everything.stack.realtime.table), 'Arn'] },
      };
      if (name === 'disconnect') expect(statements).toContainEqual(count);
      else expect(statements).not.toContainEqual(count);
      const id = logicalId(everything.stack.realtime.functions[name]);
      expect(
        everything.template.toJSON().Resources[id].Properties.Environment.Variables,
      ).toMatchObject({ PRESENCE_EVENT_BUS: 'default' });
    }
  });
});

describe('metrics', () => {
  it('go to one namespace, the stack name by default, given to the functions that publish', () => {
    // Act
    const namespaces = new Set(
      resources(defaults, 'AWS::Lambda::Function')
        .map((f) => f.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE)
        .filter(Boolean),
    );
    const alarmNamespaces = new Set(
      resources(defaults, 'AWS::CloudWatch::Alarm')
        .flatMap((a) => metricsOf(a).map((m) => m.Namespace))
        .filter((n) => !n.startsWith('AWS/')),
    );

    // Assess
    expect([...namespaces]).toEqual([`TripSyncRealtime/${defaults.stack.stackName}`]);
    expect([...alarmNamespaces]).toEqual([...namespaces]);
    for (const f of resources(everything, 'AWS::Lambda::Function')) {
      const namespace = f.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE;
      if (namespace !== undefined) expect(namespace).toBe('Prod/Realtime');
    }
  });

  it('never carry a user or a connection id: the alarms use service and Reason only', () => {
    // Act
    const dimensions = resources(defaults, 'AWS::CloudWatch::Alarm')
      .flatMap((a) => metricsOf(a))
      .filter((m) => !m.Namespace.startsWith('AWS/'));

    // Assess
    expect(dimensions.length).toBeGreaterThan(0);
    for (const { Dimensions } of dimensions) {
      for (const { Name } of Dimensions) {
        expect([SERVICE_DIMENSION, REFUSAL_REASON_DIMENSION]).toContain(Name);
      }
    }
  });
});

describe('alarms', () => {
  const ids = () => Object.keys(defaults.stack.realtime.monitoring.alarms).sort();

  it('cover errors and throttles of every function and each failure the issue lists', () => {
    const perFunction = FUNCTION_NAMES.flatMap((name) => {
      const title = `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
      return [`${title}Errors`, `${title}Throttles`];
    });
    expect(ids()).toEqual(
      [
        ...perFunction,
        'FailedPosts',
        'AsyncEventsDropped',
        'AuthProviderUnavailable',
        'ApiIntegrationErrors',
        'ApiExecutionErrors',
        'TableThrottles',
        'DeadLetterMessages',
        'QueueBacklog',
      ].sort(),
    );
    defaults.template.resourceCountIs('AWS::CloudWatch::Alarm', ids().length);
  });

  it('fire at their default thresholds, in one 5-minute period, quiet without data', () => {
    const alarm = (id: string): AlarmProperties =>
      defaults.template.toJSON().Resources[
        logicalId(defaults.stack.realtime.monitoring.alarms[id] as never)
      ].Properties;
    const t = ALARM_DEFAULTS.thresholds;
    expect(alarm('FailedPosts')).toMatchObject({
      Namespace: `TripSyncRealtime/${defaults.stack.stackName}`,
      MetricName: METRICS.messagesFailed,
      Dimensions: [{ Name: 'service', Value: 'tripsync-realtime' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: t.failedPosts,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm('AuthProviderUnavailable').Threshold).toBe(t.authProviderUnavailable);
    expect(metricsOf(alarm('AuthProviderUnavailable'))).toEqual([
      {
        Namespace: `TripSyncRealtime/${defaults.stack.stackName}`,
        MetricName: METRICS.handshakesRefused,
        Dimensions: [
          { Name: 'Reason', Value: 'auth_unavailable' },
          { Name: 'service', Value: 'tripsync-realtime' },
        ],
      },
    ]);
    expect(alarm('SendThrottles').Threshold).toBe(t.functionThrottles);
    expect(metricsOf(alarm('SendThrottles'))).toEqual([
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [
          { Name: 'FunctionName', Value: { Ref: logicalId(defaults.stack.realtime.sendFunction) } },
        ],
      },
    ]);
    expect(alarm('ApiIntegrationErrors')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'IntegrationError',
      Dimensions: expect.arrayContaining([{ Name: 'Stage', Value: 'live' }]),
      Threshold: t.apiIntegrationErrors,
    });
    expect(alarm('DeadLetterMessages')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Threshold: t.deadLetterMessages,
    });
    // DynamoDB throttles of both tables, each operation the functions use: within the 10
    // metrics an alarm may read.
    const throttles = metricsOf(alarm('TableThrottles'));
    expect(throttles.length).toBeLessThanOrEqual(10);
    const operationsOf = (table: { node: unknown }) =>
      throttles
        .filter((m) =>
          m.Dimensions.some(
            (d: { Name: string; Value: unknown }) =>
              d.Name === 'TableName' &&
              JSON.stringify(d.Value) === JSON.stringify({ Ref: logicalId(table as never) }),
          ),
        )
        .map(
          (m) =>
            m.Dimensions.find((d: { Name: string }) => d.Name === 'Operation')?.Value as string,
        )
        .sort();
    expect(operationsOf(defaults.stack.realtime.table)).toEqual(
      ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'].sort(),
    );
    expect(operationsOf(defaults.stack.realtime.messageLogTable)).toEqual(
      ['GetItem', 'PutItem', 'Query', 'UpdateItem'].sort(),
    );
    // The authorizer's own refusals (401) are not failures: its alarm subtracts them.
    const authorizer = alarm('AuthorizerErrors');
    expect(authorizer.Threshold).toBe(t.functionErrors);
    expect(authorizer.Metrics?.find((m) => m.Expression)?.Expression).toBe(
      'FILL(errors, 0) - FILL(r0, 0) - FILL(r1, 0) - FILL(r2, 0)',
    );
  });

  it('take the thresholds given, and notify the topic when they fire and when they recover', () => {
    // Act
    const alarms = resources(everything, 'AWS::CloudWatch::Alarm');

    // Assess
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([TOPIC_ARN]);
      expect(alarm.OKActions).toEqual([TOPIC_ARN]);
    }
    const thresholdOf = (id: string) =>
      everything.template.toJSON().Resources[
        logicalId(everything.stack.realtime.monitoring.alarms[id] as never)
      ].Properties.Threshold;
    expect(thresholdOf('FailedPosts')).toBe(50);
    expect(thresholdOf('DeadLetterMessages')).toBe(3);
    expect(thresholdOf('TableThrottles')).toBe(ALARM_DEFAULTS.thresholds.tableThrottles);
    expect(resources(defaults, 'AWS::CloudWatch::Alarm')[0].AlarmActions).toBeUndefined();
  });

  it('each name the section of docs/operating.md that says what to do, and it exists', () => {
    // Prepare
    const doc = readFileSync(
      fileURLToPath(new URL('../../docs/operating.md', import.meta.url)),
      'utf8',
    );
    const slugger = new GithubSlugger();
    const anchors = new Set(
      [...doc.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => slugger.slug(heading as string)),
    );

    // Act
    const linked = resources(defaults, 'AWS::CloudWatch::Alarm').map(
      (a) => /docs\/operating\.md#([a-z0-9-]+)/.exec(a.AlarmDescription)?.[1],
    );

    // Assess
    for (const anchor of linked) expect(anchors).toContain(anchor);
  });

  it('can be turned off, with the dashboard', () => {
    quiet.template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    quiet.template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(quiet.template.toJSON().Outputs).not.toHaveProperty('DashboardName');
  });
});

describe('the dashboard', () => {
  it('has one widget per question an operator asks, and the alarms on top', () => {
    // Act
    const [dashboard] = resources(defaults, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard?.DashboardBody);

    // Assess
    for (const question of [
      'What is alarming?',
      'Are messages getting through?',
      'How long does a send take?',
      'Are clients getting in?',
      'Is anything throttled?',
      'Is anything failing?',
      'Is the producer path keeping up?',
    ]) {
      expect(body).toContain(`\\"title\\":\\"${question}\\"`);
    }
    for (const metric of Object.values(METRICS).filter((m) => m !== METRICS.presenceEventsFailed)) {
      expect(body, metric).toContain(`\\"${metric}\\"`);
    }
  });
});

describe('props', () => {
  it.each([
    [
      { metricsNamespace: 'AWS/Lambda' },
      /metricsNamespace must be 1 to 255 .* received "AWS\/Lambda"/,
    ],
    [
      { alarmThresholds: { failedPost: 3 } },
      /alarmThresholds has no alarm "failedPost"; the alarms are functionErrors/,
    ],
    [
      { alarmThresholds: { failedPosts: -1 } },
      /alarmThresholds.failedPosts must be a number of at least 0, received -1/,
    ],
    [{ queueBatchSize: 11 }, /queueBatchSize must be an integer from 1 to 10, received 11/],
    [
      { queueMaxReceiveCount: 0 },
      /queueMaxReceiveCount must be an integer from 1 to 1000, received 0/,
    ],
    [{ sendRetryAttempts: 3 }, /sendRetryAttempts must be an integer from 0 to 2, received 3/],
    [{ sendMaxEventAgeSeconds: 30 }, /sendMaxEventAgeSeconds must be an integer from 60 to 21600/],
  ])('refuses %j, naming the prop and what it received', (props, message) => {
    expect(() => synthesizeStack(props as never, { bundle: false })).toThrow(message);
    expect(() => synthesizeStack(props as never, { bundle: false })).toThrow(
      TripSyncRealtimePropsError,
    );
  });

  it('refuses a bus given twice', () => {
    expect(() =>
      synthesizeStack({ eventBusName: 'a', eventBus: {} as EventBus }, { bundle: false }),
    ).toThrow(/eventBusName must not be given together with eventBus/);
  });
});
