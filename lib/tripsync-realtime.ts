import { fileURLToPath } from 'node:url';
import { type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CONNECTION_TABLE_SCHEMA } from '../lambdas/adapters/connection-table-schema';

/** The identity source of the `$connect` authorizer: browsers cannot set headers on a WebSocket. */
export const TOKEN_IDENTITY_SOURCE = 'route.request.querystring.token';

/** Defaults of {@link TripSyncRealtimeProps}, in one place. */
export const TRIPSYNC_REALTIME_DEFAULTS = {
  stageName: 'live',
  // API Gateway admits 500 new connections per second per account and region by default.
  throttlingRateLimitPerSecond: 500,
  throttlingBurstLimit: 1000,
  // API Gateway closes every WebSocket connection after 2 hours.
  connectionTtlSeconds: 2 * 60 * 60,
  memorySizeMiB: 256,
  handlerTimeoutSeconds: 10,
  sendTimeoutSeconds: 30,
  sendConcurrency: 50,
  postTimeoutMs: 3000,
  postMaxAttempts: 3,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: 'INFO',
  serviceName: 'tripsync-realtime',
} as const;

/** Log levels Powertools understands (`POWERTOOLS_LOG_LEVEL`). */
export type RealtimeLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * Properties of {@link TripSyncRealtime}. Every property is optional: with none, the backend
 * verifies HS256 tokens with a secret the construct generates.
 *
 * Token verification (the `$connect` authorizer) is HS256 with a Secrets Manager secret
 * (`jwtSecret`, or one the construct creates), JWKS (`jwksUrl` + `jwtIssuer` +
 * `jwtAudience`), or both.
 */
export interface TripSyncRealtimeProps {
  /**
   * An existing Secrets Manager secret whose `SecretString` is the raw HS256 key (at least 32
   * bytes). The authorizer gets `secretsmanager:GetSecretValue` on it (and `kms:Decrypt` on
   * its key, when the secret carries one).
   *
   * @default - no existing secret; see `createJwtSecret`
   */
  readonly jwtSecret?: ISecret;
  /**
   * Create a Secrets Manager secret (64 random letters and digits) for HS256. The issuer of
   * the tokens reads the same secret.
   *
   * @default - true when neither `jwtSecret` nor `jwksUrl` is given, otherwise false
   */
  readonly createJwtSecret?: boolean;
  /**
   * JWKS endpoint (https) for RS256/ES256 tokens, e.g. a Cognito user pool's
   * `.../.well-known/jwks.json`. Requires `jwtIssuer` and `jwtAudience`.
   *
   * @default - no JWKS verification
   */
  readonly jwksUrl?: string;
  /**
   * Expected `iss` claim of JWKS-verified tokens. Requires `jwksUrl`.
   *
   * @default - no JWKS verification
   */
  readonly jwtIssuer?: string;
  /**
   * Expected `aud` claim of JWKS-verified tokens. Requires `jwksUrl`.
   *
   * @default - no JWKS verification
   */
  readonly jwtAudience?: string;
  /**
   * Name of the API Gateway stage; part of the `wss://` URL and of the Management API endpoint.
   *
   * @default 'live'
   */
  readonly stageName?: string;
  /**
   * Steady-state request rate allowed on every route of the stage, in requests per second.
   *
   * @default 500 (the account's default rate of new connections per second)
   */
  readonly throttlingRateLimitPerSecond?: number;
  /**
   * Burst of requests allowed on every route of the stage (token bucket size).
   *
   * @default 1000
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Write API Gateway access logs (JSON, one line per connect, message and disconnect) to a
   * log group. API Gateway requires the account-level CloudWatch Logs role to be set in the
   * region (see `TripSyncRealtimeStackProps.apiGatewayCloudWatchRole`).
   *
   * @default true
   */
  readonly accessLogging?: boolean;
  /**
   * Lifetime of a connection row, in seconds (`CONNECTION_TTL_SECONDS`); DynamoDB TTL removes
   * rows whose `$disconnect` never arrived. From 60 to 604800.
   *
   * @default 7200 (API Gateway's maximum connection duration)
   */
  readonly connectionTtlSeconds?: number;
  /**
   * What happens to the connection table when it leaves the stack. Its rows are ephemeral
   * connection mappings (each expires within `connectionTtlSeconds`), so nothing of value is lost.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /**
   * Memory of every function, in MiB (CPU scales with it).
   *
   * @default 256
   */
  readonly memorySizeMiB?: number;
  /**
   * Timeout of the authorizer, `$connect`, `$disconnect` and `$default` functions, in seconds.
   * API Gateway waits at most 29 seconds for an integration.
   *
   * @default 10
   */
  readonly handlerTimeoutSeconds?: number;
  /**
   * Timeout of the send function, in seconds: one invocation fans out to all of a user's
   * connections, with retries.
   *
   * @default 30
   */
  readonly sendTimeoutSeconds?: number;
  /**
   * Posts the send function makes at once (`SEND_CONCURRENCY`), from 1 to 1000.
   *
   * @default 50
   */
  readonly sendConcurrency?: number;
  /**
   * Deadline of one `PostToConnection` attempt, in milliseconds (`POST_TIMEOUT_MS`), from 10
   * to 60000.
   *
   * @default 3000
   */
  readonly postTimeoutMs?: number;
  /**
   * Attempts per connection before a post counts as failed (`POST_MAX_ATTEMPTS`), from 1 to 10.
   *
   * @default 3
   */
  readonly postMaxAttempts?: number;
  /**
   * Retention of the functions' and the access log's log groups.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN (logs outlive the stack, for incident review)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Level of the functions' structured logs (`POWERTOOLS_LOG_LEVEL`).
   *
   * @default 'INFO'
   */
  readonly logLevel?: RealtimeLogLevel;
}

/** A property of {@link TripSyncRealtimeProps} has an invalid value or combination. */
export class TripSyncRealtimePropsError extends Error {
  constructor(
    /** The property at fault. */
    readonly propName: string,
    message: string,
  ) {
    super(`TripSyncRealtime: ${propName} ${message}`);
    this.name = 'TripSyncRealtimePropsError';
  }
}

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

const HANDLERS_DIR = fileURLToPath(new URL('../lambdas/', import.meta.url));
const LOCK_FILE = fileURLToPath(new URL('../package-lock.json', import.meta.url));

interface RealtimeHandlerProps {
  entry: string;
  description: string;
  timeoutSeconds: number;
  memorySizeMiB: number;
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
  baseEnvironment: Record<string, string>;
  environment: Record<string, string>;
  statements?: iam.PolicyStatement[];
  /** esbuild `define`s on top of {@link HANDLER_BUNDLING}. */
  define?: Record<string, string>;
}

/**
 * One function with its own role and log group. The role holds only what the function uses:
 * writing to its log group (no AWSLambdaBasicExecutionRole, whose log grant is account-wide)
 * and the statements given.
 */
class RealtimeHandler extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: RealtimeHandlerProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    logGroup.grantWrite(this.role);
    for (const statement of props.statements ?? []) this.role.addToPrincipalPolicy(statement);

    this.function = new NodejsFunction(this, 'Function', {
      entry: `${HANDLERS_DIR}${props.entry}`,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySizeMiB,
      timeout: Duration.seconds(props.timeoutSeconds),
      role: this.role,
      logGroup,
      environment: { ...props.baseEnvironment, ...props.environment },
      depsLockFilePath: LOCK_FILE,
      bundling: props.define ? { ...HANDLER_BUNDLING, define: props.define } : HANDLER_BUNDLING,
    });
  }
}

/**
 * Local esbuild (no Docker). ESM, as the project is; AWS SDK v3 bundled rather than taken
 * from the runtime (`externalModules: []`), so the code runs against the SDK version it was
 * tested with, tree-shaken. The metafile (`index.meta.json` in each asset) records the
 * bundle's composition.
 *
 * No `createRequire` banner: with `mainFields: ['module', 'main']` every dependency resolves
 * to its ES module build, the bundles contain no `require` call, and they load with
 * `node --input-type=module` (test/infra asserts both). Add the banner if a CommonJS-only
 * dependency ever needs a Node built-in through `require`.
 *
 * Exported so the benchmark (`bench/bundles.ts`) builds its baseline bundles the same way.
 */
export const HANDLER_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: false,
  mainFields: ['module', 'main'],
  externalModules: [],
  metafile: true,
};

/**
 * The global that `lambdas/runtime/token-verifier.ts` reads to know whether the Secrets Manager
 * client was bundled; defined `false` for an authorizer without an HS256 secret.
 */
const SECRETS_MANAGER_BUILD_FLAG = 'TRIPSYNC_BUNDLE_SECRETS_MANAGER';

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

interface ResolvedProps {
  createJwtSecret: boolean;
  jwks?: { url: string; issuer: string; audience: string };
  stageName: string;
  throttlingRateLimitPerSecond: number;
  throttlingBurstLimit: number;
  accessLogging: boolean;
  connectionTtlSeconds: number;
  tableRemovalPolicy: RemovalPolicy;
  memorySizeMiB: number;
  handlerTimeoutSeconds: number;
  sendTimeoutSeconds: number;
  sendConcurrency: number;
  postTimeoutMs: number;
  postMaxAttempts: number;
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
  logLevel: RealtimeLogLevel;
}

/** Applies defaults and rejects invalid values and combinations, naming what was received. */
function resolveProps(props: TripSyncRealtimeProps): ResolvedProps {
  const d = TRIPSYNC_REALTIME_DEFAULTS;

  const jwksGiven = {
    jwksUrl: props.jwksUrl,
    jwtIssuer: props.jwtIssuer,
    jwtAudience: props.jwtAudience,
  };
  const given = Object.entries(jwksGiven).filter(([, value]) => value !== undefined);
  if (given.length > 0 && given.length < 3) {
    const missing = Object.keys(jwksGiven).filter((name) => !given.some(([n]) => n === name));
    throw new TripSyncRealtimePropsError(
      missing.join(' and '),
      `${missing.length > 1 ? 'are' : 'is'} required with ${given.map(([n]) => n).join(', ')} ` +
        `(received ${given.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')})`,
    );
  }
  for (const [name, value] of given) {
    if (!Token.isUnresolved(value) && (value as string).trim() === '') {
      throw new TripSyncRealtimePropsError(
        name,
        `must not be empty, received ${JSON.stringify(value)}`,
      );
    }
  }
  const jwks =
    given.length === 3
      ? {
          url: httpsUrl('jwksUrl', props.jwksUrl as string),
          issuer: props.jwtIssuer as string,
          audience: props.jwtAudience as string,
        }
      : undefined;

  if (props.jwtSecret && props.createJwtSecret === true) {
    throw new TripSyncRealtimePropsError(
      'createJwtSecret',
      'must not be true when jwtSecret is given: use the existing secret or create one, not both',
    );
  }
  const createJwtSecret = props.createJwtSecret ?? (!props.jwtSecret && !jwks);
  if (!props.jwtSecret && !createJwtSecret && !jwks) {
    throw new TripSyncRealtimePropsError(
      'createJwtSecret',
      'is false and neither jwtSecret nor jwksUrl is given: no token verification would be configured',
    );
  }

  const stageName = props.stageName ?? d.stageName;
  if (!Token.isUnresolved(stageName) && !/^[A-Za-z0-9_-]{1,128}$/.test(stageName)) {
    throw new TripSyncRealtimePropsError(
      'stageName',
      `must be 1 to 128 letters, digits, hyphens or underscores, received ${JSON.stringify(stageName)}`,
    );
  }

  const rate = props.throttlingRateLimitPerSecond ?? d.throttlingRateLimitPerSecond;
  if (!Token.isUnresolved(rate) && !(Number.isFinite(rate) && rate > 0)) {
    throw new TripSyncRealtimePropsError(
      'throttlingRateLimitPerSecond',
      `must be a number greater than 0, received ${rate}`,
    );
  }

  return {
    createJwtSecret,
    jwks,
    stageName,
    throttlingRateLimitPerSecond: rate,
    throttlingBurstLimit: integer(
      'throttlingBurstLimit',
      props.throttlingBurstLimit,
      d.throttlingBurstLimit,
      1,
      5000,
    ),
    accessLogging: props.accessLogging ?? true,
    connectionTtlSeconds: integer(
      'connectionTtlSeconds',
      props.connectionTtlSeconds,
      d.connectionTtlSeconds,
      60,
      7 * 24 * 60 * 60,
    ),
    tableRemovalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.DESTROY,
    memorySizeMiB: integer('memorySizeMiB', props.memorySizeMiB, d.memorySizeMiB, 128, 10240),
    handlerTimeoutSeconds: integer(
      'handlerTimeoutSeconds',
      props.handlerTimeoutSeconds,
      d.handlerTimeoutSeconds,
      1,
      29,
    ),
    sendTimeoutSeconds: integer(
      'sendTimeoutSeconds',
      props.sendTimeoutSeconds,
      d.sendTimeoutSeconds,
      1,
      900,
    ),
    sendConcurrency: integer('sendConcurrency', props.sendConcurrency, d.sendConcurrency, 1, 1000),
    postTimeoutMs: integer('postTimeoutMs', props.postTimeoutMs, d.postTimeoutMs, 10, 60_000),
    postMaxAttempts: integer('postMaxAttempts', props.postMaxAttempts, d.postMaxAttempts, 1, 10),
    logRetention: props.logRetention ?? d.logRetention,
    logRemovalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    logLevel: props.logLevel ?? d.logLevel,
  };
}

function integer(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (Token.isUnresolved(value)) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TripSyncRealtimePropsError(
      name,
      `must be an integer from ${min} to ${max}, received ${value}`,
    );
  }
  return value;
}

function httpsUrl(name: string, value: string): string {
  if (Token.isUnresolved(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TripSyncRealtimePropsError(
      name,
      `must be an https URL, received ${JSON.stringify(value)}`,
    );
  }
  if (url.protocol !== 'https:') {
    throw new TripSyncRealtimePropsError(
      name,
      `must be an https URL, received ${JSON.stringify(value)}`,
    );
  }
  return value;
}
