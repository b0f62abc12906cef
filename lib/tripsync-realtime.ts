import { Annotations, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CONNECTION_TABLE_SCHEMA } from '../lambdas/shared/connection-table-schema';
import {
  propWarnings,
  resolveProps,
  TRIPSYNC_REALTIME_DEFAULTS,
  type TripSyncRealtimeProps,
} from './props';
import { RealtimeHandler, SECRETS_MANAGER_BUILD_FLAG } from './realtime-function';

/** The identity source of the `$connect` authorizer: browsers cannot set headers on a WebSocket. */
export const TOKEN_IDENTITY_SOURCE = 'route.request.querystring.token';

/** The five functions of the backend. */
export interface TripSyncRealtimeFunctions {
  readonly authorizer: NodejsFunction;
  readonly connect: NodejsFunction;
  readonly disconnect: NodejsFunction;
  readonly default: NodejsFunction;
  readonly send: NodejsFunction;
}

/**
 * The TripSync realtime backend: a WebSocket API (`$connect` behind a token authorizer,
 * `$disconnect`, a two-way `$default`), its stage, the connection table, and the `send`
 * function other services invoke to notify a user's connections.
 *
 * Construct ids are part of the contract (renaming one replaces its resource, and the table
 * or the secret with it): `ConnectionTable`, `JwtSecret`, `WebSocketApi` (authorizer
 * `TokenAuthorizer`), `Stage`, `AccessLogs`, and one `{Authorizer,Connect,Disconnect,
 * Default,Send}Handler` per function, each holding `Function`, `Role` and `Logs`.
 *
 * @example
 * const realtime = new TripSyncRealtime(this, 'Realtime', {
 *   jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
 *   jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
 *   jwtAudience: 'tripsync-web',
 * });
 * realtime.grantSend(bookingService);
 * new CfnOutput(this, 'WebSocketUrl', { value: realtime.webSocketUrl });
 */
export class TripSyncRealtime extends Construct {
  /** The connection table (`userId` + `connectionId`, GSI `byConnectionId`, TTL `expiresAt`). */
  readonly table: Table;
  readonly webSocketApi: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly functions: TripSyncRealtimeFunctions;
  /** The function producers invoke; see {@link grantSend}. */
  readonly sendFunction: NodejsFunction;
  /** The HS256 secret, when HS256 is configured (given or created). */
  readonly jwtSecret?: ISecret;
  /** The stage's access log group, when `accessLogging` is on. */
  readonly accessLogGroup?: LogGroup;
  /** `wss://{apiId}.execute-api.{region}.{urlSuffix}/{stage}`: where clients connect. */
  readonly webSocketUrl: string;
  /** `https://{apiId}.execute-api.{region}.{urlSuffix}/{stage}`: the Management API endpoint. */
  readonly connectionsEndpoint: string;

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
      projectionType: ProjectionType.KEYS_ONLY,
    });
    const tableArn = this.table.tableArn;
    const connectionIdIndexArn = `${tableArn}/index/${CONNECTION_TABLE_SCHEMA.connectionIdIndex}`;

    this.jwtSecret =
      props.jwtSecret ??
      (config.createJwtSecret
        ? new Secret(this, 'JwtSecret', {
            description: 'TripSync realtime: HS256 key that signs WebSocket connection tokens',
            generateSecretString: { passwordLength: 64, excludePunctuation: true },
          })
        : undefined);

    const common = {
      memorySizeMiB: config.memorySizeMiB,
      logRetention: config.logRetention,
      logRemovalPolicy: config.logRemovalPolicy,
      baseEnvironment: {
        POWERTOOLS_SERVICE_NAME: TRIPSYNC_REALTIME_DEFAULTS.serviceName,
        POWERTOOLS_LOG_LEVEL: config.logLevel,
      },
    };
    const tableEnvironment = {
      TABLE_NAME: this.table.tableName,
      CONNECTION_TTL_SECONDS: String(config.connectionTtlSeconds),
    };

    const authorizer = new RealtimeHandler(this, 'AuthorizerHandler', {
      ...common,
      entry: 'authorizer.ts',
      // Without a secret to read, the bundle leaves the Secrets Manager client out (see
      // lambdas/runtime/token-verifier.ts): a JWKS-only authorizer carries no SDK client.
      define: this.jwtSecret ? undefined : { [SECRETS_MANAGER_BUILD_FLAG]: 'false' },
      description: 'TripSync realtime: verifies the token of a WebSocket $connect',
      timeoutSeconds: config.handlerTimeoutSeconds,
      environment: {
        ...(this.jwtSecret ? { JWT_SECRET_ARN: this.jwtSecret.secretArn } : {}),
        ...(config.jwks
          ? {
              JWKS_URL: config.jwks.url,
              JWT_ISSUER: config.jwks.issuer,
              JWT_AUDIENCE: config.jwks.audience,
            }
          : {}),
      },
    });
    if (this.jwtSecret) {
      authorizer.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadJwtSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [this.jwtSecret.secretArn],
        }),
      );
      this.jwtSecret.encryptionKey?.grantDecrypt(authorizer.role);
    }

    const connect = new RealtimeHandler(this, 'ConnectHandler', {
      ...common,
      entry: 'connect.ts',
      description: 'TripSync realtime: records a connection ($connect)',
      timeoutSeconds: config.handlerTimeoutSeconds,
      environment: tableEnvironment,
      statements: [tableStatement('RecordConnection', ['dynamodb:PutItem'], [tableArn])],
    });

    const disconnect = new RealtimeHandler(this, 'DisconnectHandler', {
      ...common,
      entry: 'disconnect.ts',
      description: 'TripSync realtime: removes a connection ($disconnect)',
      timeoutSeconds: config.handlerTimeoutSeconds,
      environment: tableEnvironment,
      statements: [
        tableStatement('RemoveConnection', ['dynamodb:DeleteItem'], [tableArn]),
        tableStatement('FindConnectionOwner', ['dynamodb:Query'], [connectionIdIndexArn]),
      ],
    });

    const defaultRoute = new RealtimeHandler(this, 'DefaultHandler', {
      ...common,
      entry: 'default.ts',
      description: 'TripSync realtime: answers client frames ($default, two-way)',
      timeoutSeconds: config.handlerTimeoutSeconds,
      environment: {},
    });

    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      description: 'TripSync realtime notifications',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', connect.function),
        authorizer: new WebSocketLambdaAuthorizer('TokenAuthorizer', authorizer.function, {
          identitySource: [TOKEN_IDENTITY_SOURCE],
        }),
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', disconnect.function),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', defaultRoute.function),
        // Two-way: API Gateway sends the function's `body` back to the client.
        returnResponse: true,
      },
    });

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
    this.webSocketUrl = this.stage.url;
    // Built from the API id, region and stage (never a custom domain), as `send` requires.
    this.connectionsEndpoint = this.stage.callbackUrl;

    const send = new RealtimeHandler(this, 'SendHandler', {
      ...common,
      entry: 'send.ts',
      description: "TripSync realtime: posts a notification to a user's connections",
      timeoutSeconds: config.sendTimeoutSeconds,
      environment: {
        TABLE_NAME: this.table.tableName,
        CONNECTIONS_ENDPOINT: this.connectionsEndpoint,
        SEND_CONCURRENCY: String(config.sendConcurrency),
        POST_TIMEOUT_MS: String(config.postTimeoutMs),
        POST_MAX_ATTEMPTS: String(config.postMaxAttempts),
      },
      statements: [
        // A user's connections: one strongly consistent Query on the table.
        tableStatement('ListConnections', ['dynamodb:Query'], [tableArn, connectionIdIndexArn]),
        // Rows of connections that answered 410 Gone.
        tableStatement('RemoveStaleConnections', ['dynamodb:DeleteItem'], [tableArn]),
        new iam.PolicyStatement({
          sid: 'PostToConnections',
          actions: ['execute-api:ManageConnections'],
          resources: [
            Stack.of(this).formatArn({
              service: 'execute-api',
              resource: this.webSocketApi.apiId,
              resourceName: `${this.stage.stageName}/POST/@connections/*`,
            }),
          ],
        }),
      ],
    });
    Validations.of(send.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${Stack.of(this).getLogicalId(this.webSocketApi.node.defaultChild as CfnElement)}>/${config.stageName}/POST/@connections/*]`,
      reason:
        'Connection ids are assigned by API Gateway at runtime, so the @connections resource ' +
        'needs a wildcard after @connections/. It is scoped to this API, this stage and POST only.',
    });

    this.sendFunction = send.function;
    this.functions = {
      authorizer: authorizer.function,
      connect: connect.function,
      disconnect: disconnect.function,
      default: defaultRoute.function,
      send: send.function,
    };

    acknowledgeRouteAuthorization(this.webSocketApi);
    if (this.jwtSecret instanceof Secret) {
      Validations.of(this.jwtSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret is a raw HS256 signing key shared with the token issuer: rotating it ' +
          'invalidates every outstanding token and needs a coordinated issuer rollout, which ' +
          'a rotation Lambda cannot do. Rotate it deliberately (update the secret, then ' +
          'redeploy or let authorizer containers recycle).',
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

function tableStatement(sid: string, actions: string[], resources: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid, actions, resources });
}

/**
 * API Gateway authorizes a WebSocket connection once, on `$connect`; later routes of the same
 * connection cannot carry an authorizer (CloudFormation refuses one), and they run with the
 * `$connect` authorizer's context.
 */
function acknowledgeRouteAuthorization(api: WebSocketApi): void {
  for (const routeId of ['$disconnect-Route', '$default-Route']) {
    const route = api.node.tryFindChild(routeId);
    if (!route) throw new Error(`TripSyncRealtime: route construct ${routeId} not found`);
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'WebSocket APIs authorize on $connect only; this route belongs to an already ' +
        'authorized connection and receives the $connect authorizer context.',
    });
  }
}
