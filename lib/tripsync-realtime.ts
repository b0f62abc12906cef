import {
  Annotations,
  type CfnElement,
  Duration,
  Lazy,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  LogGroupLogDestination,
  WebSocketApi,
  type WebSocketRouteOptions,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IDestination } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import {
  FUNCTION_NAMES,
  type FunctionName,
  type FunctionNeeds,
  functionSpec,
  functionsTriggeredBy,
  routeKeyOf,
  type TableResource,
} from '../lambdas/manifest';
import { CONNECTION_TABLE_SCHEMA } from '../lambdas/shared/connection-table-schema';
import { DEFAULT_EVENT_BUS_NAME, NOTIFICATION_DETAIL_TYPE } from '../lambdas/shared/eventbridge';
import { QUEUE, SETTINGS } from '../lambdas/shared/limits';
import { MESSAGE_LOG_SCHEMA } from '../lambdas/shared/message-log-schema';
import { METRICS_NAMESPACE_PREFIX } from '../lambdas/shared/metrics';
import { RealtimeMonitoring } from './monitoring';
import {
  propWarnings,
  resolveProps,
  TRIPSYNC_REALTIME_DEFAULTS,
  type TripSyncRealtimeProps,
} from './props';
import {
  EVENTBRIDGE_BUILD_FLAG,
  RealtimeHandler,
  SECRETS_MANAGER_BUILD_FLAG,
} from './realtime-function';

export { TOKEN_IDENTITY_SOURCE } from '../lambdas/manifest';

/** The backend's functions, by their name in `lambdas/manifest.ts`. */
export type TripSyncRealtimeFunctions = { readonly [name in FunctionName]: NodejsFunction };

/**
 * The TripSync realtime backend: a WebSocket API (`$connect` behind a token authorizer,
 * `$disconnect`, two-way `$default` and `resume` routes), its stage, the connection table, each
 * user's message log; the `send` function other services invoke to notify a user's
 * connections, the notification queue (with its dead-letter queue) for producers that would
 * rather send a message, an optional EventBridge rule into that queue, and the `presence`
 * function; the alarms and the dashboard.
 *
 * The functions, their routes, grants and environment come from `lambdas/manifest.ts`.
 *
 * Construct ids are part of the contract (renaming one replaces its resource, and the table
 * or the secret with it): `ConnectionTable`, `MessageLogTable`, `JwtSecret`, `ShardSigningKey`,
 * `WebSocketApi` (authorizer `TokenAuthorizer`), `Stage`, `AccessLogs`, `NotificationQueue`,
 * `DeadLetterQueue`, `NotificationRule`, `Monitoring` (its alarms and `Dashboard`), and one
 * `{Name}Handler` per function of the manifest (`AuthorizerHandler`, `ConnectHandler`, …),
 * each holding `Function`, `Role` and `Logs` (and `InvokeItself`, the policy of a function that
 * invokes itself), with a `{Name}Integration` for each route.
 *
 * @example
 * const realtime = new TripSyncRealtime(this, 'Realtime', {
 *   jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
 *   jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
 *   jwtAudience: 'tripsync-web',
 * });
 * realtime.grantSend(bookingService);
 * realtime.grantEnqueue(paymentsService);
 * new CfnOutput(this, 'WebSocketUrl', { value: realtime.webSocketUrl });
 */
export class TripSyncRealtime extends Construct {
  /** The connection table (`userId` + `connectionId`, GSI `byConnectionId`, TTL `expiresAt`). */
  readonly table: Table;
  /** Each user's message log (`userId` + `seq`, TTL `expiresAt`), replayed by `resume`. */
  readonly messageLogTable: Table;
  readonly webSocketApi: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly functions: TripSyncRealtimeFunctions;
  /** The function producers invoke; see {@link grantSend}. */
  readonly sendFunction: NodejsFunction;
  /** The HS256 secret, when HS256 is configured (given or created). */
  readonly jwtSecret?: ISecret;
  /**
   * The key the send function signs its shard payloads with (generated; resolved into its
   * environment at deploy time): only the send function's own shards are accepted.
   */
  readonly shardSigningKey: ISecret;
  /** The stage's access log group, when `accessLogging` is on. */
  readonly accessLogGroup?: LogGroup;
  /** `wss://{apiId}.execute-api.{region}.{urlSuffix}/{stage}`: where clients connect. */
  readonly webSocketUrl: string;
  /** `https://{apiId}.execute-api.{region}.{urlSuffix}/{stage}`: the Management API endpoint. */
  readonly connectionsEndpoint: string;
  /** The queue producers send send payloads to; see {@link grantEnqueue}. */
  readonly notificationQueue: Queue;
  /**
   * Where nothing is lost: queued messages received `queueMaxReceiveCount` times, bad queued
   * payloads (with the reason as attributes), and `Event` invocations of send that failed.
   */
  readonly deadLetterQueue: Queue;
  /** The function producers invoke to count users' connections; see {@link grantPresence}. */
  readonly presenceFunction: NodejsFunction;
  /** The bus of the notification rule and of presence events. */
  readonly eventBus: IEventBus;
  /** The rule that delivers `TripSync Notification` events into the queue, when on. */
  readonly notificationRule?: Rule;
  /** The alarms (by construct id) and the dashboard. */
  readonly monitoring: RealtimeMonitoring;
  /** The namespace of the functions' metrics. */
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: TripSyncRealtimeProps = {}) {
    super(scope, id);
    const config = resolveProps(props);
    for (const warning of propWarnings(config)) {
      Annotations.of(this).addWarningV2('@tripsync/realtime:props', warning);
    }

    this.table = new Table(this, 'ConnectionTable', {
      partitionKey: { name: CONNECTION_TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: CONNECTION_TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: CONNECTION_TABLE_SCHEMA.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: config.tableRemovalPolicy,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: CONNECTION_TABLE_SCHEMA.connectionIdIndex,
      partitionKey: { name: CONNECTION_TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...CONNECTION_TABLE_SCHEMA.connectionIdIndexAttributes],
    });
    this.messageLogTable = new Table(this, 'MessageLogTable', {
      partitionKey: { name: MESSAGE_LOG_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: MESSAGE_LOG_SCHEMA.sortKey, type: AttributeType.NUMBER },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: MESSAGE_LOG_SCHEMA.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: config.tableRemovalPolicy,
    });
    const tableResources: Record<TableResource, string> = {
      table: this.table.tableArn,
      connectionIdIndex: `${this.table.tableArn}/index/${CONNECTION_TABLE_SCHEMA.connectionIdIndex}`,
    };
    this.metricsNamespace =
      config.metricsNamespace ?? `${METRICS_NAMESPACE_PREFIX}/${Stack.of(this).stackName}`;
    this.eventBus =
      props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultEventBus', DEFAULT_EVENT_BUS_NAME);

    // SQS-managed encryption: Lambda, EventBridge and producers need no KMS grant. The
    // dead-letter queue keeps messages longer than its source (a message keeps its first
    // enqueue time when it moves).
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      visibilityTimeout: Duration.seconds(QUEUE.defaultVisibilityTimeoutSeconds),
      enforceSSL: true,
      retentionPeriod: Duration.days(QUEUE.deadLetterRetentionDays),
      maxMessageSizeBytes: QUEUE.maxMessageBytes,
    });
    this.notificationQueue = new Queue(this, 'NotificationQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(QUEUE.retentionDays),
      maxMessageSizeBytes: QUEUE.maxMessageBytes,
      visibilityTimeout: Duration.seconds(queueVisibilitySeconds(config.sendTimeoutSeconds)),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: config.queueMaxReceiveCount,
      },
    });

    this.jwtSecret =
      props.jwtSecret ??
      (config.createJwtSecret
        ? new Secret(this, 'JwtSecret', {
            description: 'TripSync realtime: HS256 key that signs WebSocket connection tokens',
            generateSecretString: {
              passwordLength: GENERATED_SECRET_LENGTH,
              excludePunctuation: true,
            },
            // The token issuer signs with this key: deleting the stack, or replacing the secret,
            // must not destroy it (docs/security.md says how to delete it on purpose).
            removalPolicy: RemovalPolicy.RETAIN,
          })
        : undefined);

    /** One function of the manifest, with the role and environment its needs call for. */
    const build = (name: FunctionName, managementApi?: ManagementApiTarget): RealtimeHandler => {
      const spec = functionSpec(name);
      const { needs } = spec;
      const environment: Record<string, string> = {};
      const statements: iam.PolicyStatement[] = [];
      if (needs.connectionTable) {
        environment.TABLE_NAME = this.table.tableName;
        for (const access of needs.connectionTable) {
          statements.push(
            new iam.PolicyStatement({
              sid: access.sid,
              actions: [...access.actions],
              resources: access.on.map((resource) => tableResources[resource]),
            }),
          );
        }
      }
      if (needs.messageLog) {
        environment.MESSAGE_TABLE_NAME = this.messageLogTable.tableName;
        for (const access of needs.messageLog) {
          statements.push(
            new iam.PolicyStatement({
              sid: access.sid,
              actions: [...access.actions],
              resources: [this.messageLogTable.tableArn],
            }),
          );
        }
      }
      for (const setting of needs.settings ?? []) {
        environment[SETTINGS[setting].env] = String(config[setting]);
      }
      if (needs.jwtSecret) {
        if (this.jwtSecret) environment.JWT_SECRET_ARN = this.jwtSecret.secretArn;
        if (config.jwksUrl !== undefined) environment.JWKS_URL = config.jwksUrl;
        if (config.jwtIssuers !== undefined) environment.JWT_ISSUER = config.jwtIssuers.join(',');
        environment.JWT_AUDIENCE = config.jwtAudience;
      }
      if (needs.managementApi && managementApi) {
        environment.CONNECTIONS_ENDPOINT = managementApi.endpoint;
        statements.push(managementApiStatement(needs.managementApi, managementApi));
      }
      if (needs.invokesItself) {
        // A CloudFormation dynamic reference: resolved at deploy into the environment, never
        // written into the template or cdk.out.
        environment.SHARD_SIGNING_KEY = shardSigningKey().secretValue.unsafeUnwrap();
      }
      if (needs.metrics) environment.POWERTOOLS_METRICS_NAMESPACE = this.metricsNamespace;
      if (needs.deadLetterQueue) {
        environment.DEAD_LETTER_QUEUE_URL = this.deadLetterQueue.queueUrl;
        statements.push(
          new iam.PolicyStatement({
            sid: needs.deadLetterQueue.sid,
            actions: ['sqs:SendMessage'],
            resources: [this.deadLetterQueue.queueArn],
          }),
        );
      }
      const define: Record<string, string> = {};
      // Without a secret to read, the bundle leaves the Secrets Manager client out (see
      // lambdas/runtime/token-verifier.ts): a JWKS-only authorizer carries no SDK client.
      if (needs.jwtSecret && !this.jwtSecret) define[SECRETS_MANAGER_BUILD_FLAG] = 'false';
      if (needs.presenceEvents) {
        if (config.presenceEvents) {
          environment.PRESENCE_EVENT_BUS = this.eventBus.eventBusName;
          statements.push(
            new iam.PolicyStatement({
              sid: 'PublishPresenceEvents',
              actions: ['events:PutEvents'],
              resources: [this.eventBus.eventBusArn],
            }),
          );
          if (needs.presenceEvents.sid) {
            statements.push(
              new iam.PolicyStatement({
                sid: needs.presenceEvents.sid,
                actions: ['dynamodb:Query'],
                resources: [this.table.tableArn],
              }),
            );
          }
        } else {
          // Off, the bundle leaves the EventBridge client out (lambdas/runtime/presence-publisher.ts).
          define[EVENTBRIDGE_BUILD_FLAG] = 'false';
        }
      }
      const handler = new RealtimeHandler(this, constructIdOf(name, 'Handler'), {
        entry: spec.entry,
        description: spec.description,
        timeoutSeconds: config[spec.timeout],
        memorySizeMiB: config[spec.memory],
        logRetention: config.logRetention,
        logRemovalPolicy: config.logRemovalPolicy,
        baseEnvironment: {
          POWERTOOLS_SERVICE_NAME: TRIPSYNC_REALTIME_DEFAULTS.serviceName,
          POWERTOOLS_LOG_LEVEL: config.logLevel,
        },
        environment,
        statements,
        reservedConcurrency: spec.reservedConcurrency
          ? config.reservedConcurrency[spec.reservedConcurrency.prop]
          : undefined,
        define: Object.keys(define).length > 0 ? define : undefined,
      });
      if (needs.jwtSecret && this.jwtSecret) {
        handler.role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'ReadJwtSecret',
            actions: ['secretsmanager:GetSecretValue'],
            resources: [this.jwtSecret.secretArn],
          }),
        );
        this.jwtSecret.encryptionKey?.grantDecrypt(handler.role);
      }
      if (needs.managementApi && managementApi) {
        acknowledgeConnectionsWildcard(handler.role, needs.managementApi, managementApi);
      }
      if (needs.invokesItself) {
        // A policy of its own, not the role's default one: the function depends on its role's
        // default policy (CDK creates it first), so a statement naming the function's own ARN
        // there would be a circular dependency. This one is attached once the function exists.
        new iam.Policy(handler, 'InvokeItself', {
          roles: [handler.role],
          statements: [
            new iam.PolicyStatement({
              sid: needs.invokesItself.sid,
              actions: ['lambda:InvokeFunction'],
              resources: [handler.function.functionArn],
            }),
          ],
        });
      }
      return handler;
    };
    let signingKey: Secret | undefined;
    /** The key a function that invokes itself signs its own payloads with; created once. */
    const shardSigningKey = (): Secret => {
      signingKey ??= new Secret(this, 'ShardSigningKey', {
        description:
          'TripSync realtime: signs the payloads the send function sends to its own shards',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
      });
      return signingKey;
    };

    // The functions API Gateway invokes come first: the API's routes need them. The others
    // (invoked by producers) come after the stage, whose URL they may need.
    const handlers = new Map<FunctionName, RealtimeHandler>();
    for (const name of FUNCTION_NAMES) {
      const { kind } = functionSpec(name).trigger;
      if (kind === 'authorizer' || kind === 'route') handlers.set(name, build(name));
    }

    const [authorizerName] = functionsTriggeredBy('authorizer');
    const authorizer =
      authorizerName === undefined
        ? undefined
        : new WebSocketLambdaAuthorizer(
            'TokenAuthorizer',
            (handlers.get(authorizerName) as RealtimeHandler).function,
            { identitySource: [authorizerIdentitySource(authorizerName)] },
          );
    const routeOptions = (name: FunctionName): WebSocketRouteOptions => {
      const { trigger } = functionSpec(name);
      return {
        integration: new WebSocketLambdaIntegration(
          constructIdOf(name, 'Integration'),
          (handlers.get(name) as RealtimeHandler).function,
        ),
        ...(trigger.kind === 'route' && trigger.routeKey === '$connect' && authorizer
          ? { authorizer }
          : {}),
        ...(trigger.kind === 'route' && trigger.twoWay ? { returnResponse: true } : {}),
      };
    };
    const routeNames = functionsTriggeredBy('route');
    const predefined = (routeKey: string) => {
      const name = routeNames.find((n) => routeKeyOf(n) === routeKey);
      return name === undefined ? undefined : routeOptions(name);
    };
    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      description: 'TripSync realtime notifications',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: predefined('$connect'),
      disconnectRouteOptions: predefined('$disconnect'),
      defaultRouteOptions: predefined('$default'),
    });
    for (const name of routeNames) {
      const routeKey = routeKeyOf(name) as string;
      if (!PREDEFINED_ROUTE_KEYS.includes(routeKey)) {
        this.webSocketApi.addRoute(routeKey, routeOptions(name));
      }
      // API Gateway authorizes a WebSocket connection once, on `$connect`; later routes of the
      // same connection cannot carry an authorizer (CloudFormation refuses one), and they run
      // with the `$connect` authorizer's context.
      if (routeKey !== '$connect') acknowledgeRouteAuthorization(this.webSocketApi, routeKey);
    }

    if (config.accessLogging) {
      this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
        retention: config.logRetention,
        removalPolicy: config.logRemovalPolicy,
      });
    }
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: config.stageName,
      autoDeploy: true,
      throttle: {
        rateLimit: config.throttlingRateLimitPerSecond,
        burstLimit: config.throttlingBurstLimit,
      },
      accessLogSettings: this.accessLogGroup
        ? {
            destination: new LogGroupLogDestination(this.accessLogGroup),
            format: ACCESS_LOG_FORMAT,
          }
        : undefined,
    });
    throttleFrameRoutes(this.stage, this.webSocketApi, routeNames, {
      ThrottlingRateLimit: config.frameThrottlingRateLimitPerSecond,
      ThrottlingBurstLimit: config.frameThrottlingBurstLimit,
    });
    this.webSocketUrl = this.stage.url;
    // Built from the API id, region and stage (never a custom domain), as `send` requires.
    this.connectionsEndpoint = this.stage.callbackUrl;

    const managementApi: ManagementApiTarget = {
      endpoint: this.connectionsEndpoint,
      api: this.webSocketApi,
      stageName: this.stage.stageName,
      configuredStageName: config.stageName,
    };
    for (const name of FUNCTION_NAMES) {
      if (handlers.has(name)) {
        const needs = functionSpec(name).needs.managementApi;
        if (needs) {
          // A route function that posts: its environment and grant follow the stage.
          const handler = handlers.get(name) as RealtimeHandler;
          handler.function.addEnvironment('CONNECTIONS_ENDPOINT', managementApi.endpoint);
          handler.role.addToPrincipalPolicy(managementApiStatement(needs, managementApi));
          acknowledgeConnectionsWildcard(handler.role, needs, managementApi);
        }
      } else {
        handlers.set(name, build(name, managementApi));
      }
    }

    if (!signingKey)
      throw new Error(
        'TripSyncRealtime: lambdas/manifest.ts names no function that invokes itself',
      );
    this.shardSigningKey = signingKey;
    this.functions = Object.fromEntries(
      FUNCTION_NAMES.map((name) => [name, (handlers.get(name) as RealtimeHandler).function]),
    ) as TripSyncRealtimeFunctions;
    this.sendFunction = this.functions.send;
    Validations.of(this.shardSigningKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The key only tells the send function its own shard payloads from a producer. ' +
        'CloudFormation resolves it into the function at deploy time, so a rotation Lambda ' +
        'would change nothing until the next deployment: to replace it, put a new value ' +
        'and redeploy.',
    });
    this.presenceFunction = this.functions.presence;

    // The queue's consumers: Lambda polls, and returns only the records the function names in
    // `batchItemFailures` (the consume grant is the mapping's: receive, delete, change visibility).
    for (const name of functionsTriggeredBy('queue')) {
      this.functions[name].addEventSource(
        new SqsEventSource(this.notificationQueue, {
          batchSize: config.queueBatchSize,
          maxBatchingWindow:
            config.queueMaxBatchingWindowSeconds > 0
              ? Duration.seconds(config.queueMaxBatchingWindowSeconds)
              : undefined,
          reportBatchItemFailures: true,
        }),
      );
    }

    // An `Event` invocation that fails its retries, or waits too long, goes to the dead-letter
    // queue as Lambda's invocation record (the payload, the error) instead of being dropped.
    const deadLetterQueue = this.deadLetterQueue;
    const toDeadLetterQueue: IDestination = {
      bind: (_scope, fn) => {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'AsyncFailuresToDeadLetterQueue',
            actions: ['sqs:SendMessage'],
            resources: [deadLetterQueue.queueArn],
          }),
        );
        return { destination: deadLetterQueue.queueArn };
      },
    };
    for (const name of functionsTriggeredBy('invoke')) {
      if (name !== 'send') continue; // presence answers its caller; nothing to keep
      this.functions[name].configureAsyncInvoke({
        retryAttempts: config.sendRetryAttempts,
        maxEventAge: Duration.seconds(config.sendMaxEventAgeSeconds),
        onFailure: toDeadLetterQueue,
      });
    }

    if (config.notificationRule) {
      this.notificationRule = new Rule(this, 'NotificationRule', {
        description: `TripSync realtime: ${NOTIFICATION_DETAIL_TYPE} events into the notification queue`,
        eventBus: this.eventBus,
        eventPattern: { detailType: [NOTIFICATION_DETAIL_TYPE] },
        targets: [
          // The detail alone: the queue holds send payloads, however they came.
          new SqsQueue(this.notificationQueue, {
            message: RuleTargetInput.fromEventPath('$.detail'),
            deadLetterQueue: this.deadLetterQueue,
          }),
        ],
      });
    }

    this.monitoring = new RealtimeMonitoring(this, 'Monitoring', {
      namespace: this.metricsNamespace,
      functions: this.functions,
      api: this.webSocketApi,
      stageName: this.stage.stageName,
      table: this.table,
      messageLogTable: this.messageLogTable,
      queue: this.notificationQueue,
      deadLetterQueue: this.deadLetterQueue,
      alarms: config.alarms,
      thresholds: config.alarmThresholds,
      alarmTopic: props.alarmTopic,
      dashboard: config.dashboard,
    });

    if (this.jwtSecret instanceof Secret) {
      Validations.of(this.jwtSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret is a raw HS256 signing key shared with the token issuer, which must start ' +
          'signing with a new version when it appears: a rotation Lambda cannot coordinate that. ' +
          'Rotate it deliberately with put-secret-value; the authorizer reads both AWSCURRENT ' +
          'and AWSPREVIOUS within minutes (docs/security.md).',
      });
    }
  }

  /**
   * Lets `grantee` invoke the send function (`lambda:InvokeFunction` on that function only),
   * e.g. a booking service that notifies a traveller. The grantee must be in the same account.
   *
   * @example
   * const realtime = new TripSyncRealtime(this, 'Realtime');
   * const bookings = new NodejsFunction(this, 'Bookings', {
   *   entry: 'services/bookings.ts',
   *   environment: { SEND_FUNCTION_NAME: realtime.sendFunction.functionName },
   * });
   * realtime.grantSend(bookings);
   */
  grantSend(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.sendFunction.functionArn],
    });
  }

  /**
   * Lets `grantee` send send payloads to the notification queue (`sqs:SendMessage`, and
   * `sqs:GetQueueUrl` so that code which looks the queue up by name works as is), on that queue
   * only. The queue is encrypted with an SQS-managed key: no KMS grant is needed.
   *
   * @example
   * realtime.grantEnqueue(payments);
   * payments.addEnvironment('NOTIFICATION_QUEUE_URL', realtime.notificationQueue.queueUrl);
   */
  grantEnqueue(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
      resourceArns: [this.notificationQueue.queueArn],
    });
  }

  /**
   * Lets `grantee` invoke the presence function (`lambda:InvokeFunction` on it only).
   *
   * @example
   * realtime.grantPresence(dispatch);
   * dispatch.addEnvironment('PRESENCE_FUNCTION_NAME', realtime.presenceFunction.functionName);
   */
  grantPresence(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.presenceFunction.functionArn],
    });
  }
}

/**
 * The notification queue's visibility timeout: six times its consumer's timeout, as AWS
 * recommends, at most SQS's 12 hours (the longest a token-valued timeout could need).
 */
function queueVisibilitySeconds(consumerTimeoutSeconds: number): number {
  if (Token.isUnresolved(consumerTimeoutSeconds)) return QUEUE.maxVisibilityTimeoutSeconds;
  return Math.min(
    consumerTimeoutSeconds * QUEUE.visibilityTimeoutPerFunctionTimeout,
    QUEUE.maxVisibilityTimeoutSeconds,
  );
}

// One JSON object per event. No query string: the `$connect` URL carries the token.
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    eventType: '$context.eventType',
    routeKey: '$context.routeKey',
    connectionId: '$context.connectionId',
    status: '$context.status',
    sourceIp: '$context.identity.sourceIp',
    principalId: '$context.authorizer.principalId',
    authorizerError: '$context.authorizer.error',
    error: '$context.error.message',
  }),
);

/** Length of the generated HS256 key: letters and digits, well over RFC 7518's 32 bytes. */
export const GENERATED_SECRET_LENGTH = 64;

/**
 * Route-level throttling for the routes whose manifest trigger says `throttle: 'frames'`
 * (`$default`); every other route keeps the stage's default route settings.
 *
 * A route setting replaces the stage default for its route: a field it leaves out takes API
 * Gateway's own default, not the stage's. So each one carries the stage's other settings
 * (detailed metrics, logging), read at synth, whoever set them. `RouteSettings` is untyped JSON
 * in the L1, which CDK passes through as is: the keys are CloudFormation's
 * (`ThrottlingRateLimit`), not CDK's camel case. CloudFormation creates the stage only once the
 * routes it names exist ("Unable to find Route by key"), hence the dependencies.
 */
function throttleFrameRoutes(
  stage: WebSocketStage,
  api: WebSocketApi,
  routeNames: readonly FunctionName[],
  throttle: { ThrottlingRateLimit: number; ThrottlingBurstLimit: number },
): void {
  const routeKeys: string[] = [];
  for (const name of routeNames) {
    const { trigger } = functionSpec(name);
    if (trigger.kind !== 'route' || trigger.throttle !== 'frames') continue;
    routeKeys.push(trigger.routeKey);
    stage.node.addDependency(routeConstruct(api, trigger.routeKey));
  }
  if (routeKeys.length === 0) return;
  const cfnStage = stage.node.defaultChild as CfnStage;
  const others: unknown = cfnStage.routeSettings;
  cfnStage.routeSettings = Lazy.any({
    produce: () => {
      const defaults = cfnStage.defaultRouteSettings;
      const stageWide = (
        defaults === undefined || Token.isUnresolved(defaults) ? {} : defaults
      ) as CfnStage.RouteSettingsProperty;
      const inherited = {
        DataTraceEnabled: stageWide.dataTraceEnabled,
        DetailedMetricsEnabled: stageWide.detailedMetricsEnabled,
        LoggingLevel: stageWide.loggingLevel,
      };
      return {
        ...(typeof others === 'object' ? others : {}),
        ...Object.fromEntries(routeKeys.map((key) => [key, { ...inherited, ...throttle }])),
      };
    },
  });
}

function routeConstruct(api: WebSocketApi, routeKey: string): IConstruct {
  const routeId = `${routeKey}-Route`;
  const route = api.node.tryFindChild(routeId);
  if (!route) throw new Error(`TripSyncRealtime: route construct ${routeId} not found`);
  return route;
}

/** Route keys `WebSocketApi` takes as constructor options; any other is added with `addRoute`. */
const PREDEFINED_ROUTE_KEYS: readonly string[] = ['$connect', '$disconnect', '$default'];

/**
 * A manifest name as a construct id: `connect` → `ConnectHandler`. Construct ids are part of the
 * contract: renaming a function replaces its resources.
 */
function constructIdOf(name: FunctionName, suffix: 'Handler' | 'Integration'): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}${suffix}`;
}

function authorizerIdentitySource(name: FunctionName): string {
  const { trigger } = functionSpec(name);
  if (trigger.kind !== 'authorizer') throw new Error(`TripSyncRealtime: ${name} is no authorizer`);
  return trigger.identitySource;
}

/** Where the Management API of this API's stage is, for functions that post to connections. */
interface ManagementApiTarget {
  endpoint: string;
  api: WebSocketApi;
  /** The stage's name as a token of the stage (the grant depends on the stage). */
  stageName: string;
  /** The same name as configured, for cdk-nag's finding id. */
  configuredStageName: string;
}

/** `execute-api:ManageConnections` on this API and stage, for the needed verbs only. */
function managementApiStatement(
  needs: NonNullable<FunctionNeeds['managementApi']>,
  target: ManagementApiTarget,
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: needs.sid,
    actions: ['execute-api:ManageConnections'],
    resources: needs.verbs.map((verb) =>
      Stack.of(target.api).formatArn({
        service: 'execute-api',
        resource: target.api.apiId,
        resourceName: `${target.stageName}/${verb}/@connections/*`,
      }),
    ),
  });
}

function acknowledgeConnectionsWildcard(
  role: iam.Role,
  needs: NonNullable<FunctionNeeds['managementApi']>,
  target: ManagementApiTarget,
): void {
  const apiLogicalId = Stack.of(target.api).getLogicalId(
    target.api.node.defaultChild as CfnElement,
  );
  for (const verb of needs.verbs) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${target.configuredStageName}/${verb}/@connections/*]`,
      reason:
        'Connection ids are assigned by API Gateway at runtime, so the @connections resource ' +
        `needs a wildcard after @connections/. It is scoped to this API, this stage and ${verb} only.`,
    });
  }
}

function acknowledgeRouteAuthorization(api: WebSocketApi, routeKey: string): void {
  Validations.of(routeConstruct(api, routeKey)).acknowledge({
    id: 'AwsSolutions-APIG4',
    reason:
      'WebSocket APIs authorize on $connect only; this route belongs to an already ' +
      'authorized connection and receives the $connect authorizer context.',
  });
}
