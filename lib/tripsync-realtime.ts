import {
  Annotations,
  type CfnElement,
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
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
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
import { SETTINGS } from '../lambdas/shared/limits';
import { MESSAGE_LOG_SCHEMA } from '../lambdas/shared/message-log-schema';
import {
  propWarnings,
  resolveProps,
  TRIPSYNC_REALTIME_DEFAULTS,
  type TripSyncRealtimeProps,
} from './props';
import { RealtimeHandler, SECRETS_MANAGER_BUILD_FLAG } from './realtime-function';

export { TOKEN_IDENTITY_SOURCE } from '../lambdas/manifest';

/** The backend's functions, by their name in `lambdas/manifest.ts`. */
export type TripSyncRealtimeFunctions = { readonly [name in FunctionName]: NodejsFunction };

/**
 * The TripSync realtime backend: a WebSocket API (`$connect` behind a token authorizer,
 * `$disconnect`, two-way `$default` and `resume` routes), its stage, the connection table, each
 * user's message log, and the `send` function other services invoke to notify a user's
 * connections.
 *
 * The functions, their routes, grants and environment come from `lambdas/manifest.ts`.
 *
 * Construct ids are part of the contract (renaming one replaces its resource, and the table
 * or the secret with it): `ConnectionTable`, `MessageLogTable`, `JwtSecret`, `WebSocketApi` (authorizer
 * `TokenAuthorizer`), `Stage`, `AccessLogs`, and one `{Name}Handler` per function of the
 * manifest (`AuthorizerHandler`, `ConnectHandler`, …), each holding `Function`, `Role` and
 * `Logs`, with a `{Name}Integration` for each route.
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
  /** Each user's message log (`userId` + `seq`, TTL `expiresAt`), replayed by `resume`. */
  readonly messageLogTable: Table;
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
      const handler = new RealtimeHandler(this, constructIdOf(name, 'Handler'), {
        entry: spec.entry,
        description: spec.description,
        timeoutSeconds: config[spec.timeout],
        memorySizeMiB: config.memorySizeMiB,
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
        // Without a secret to read, the bundle leaves the Secrets Manager client out (see
        // lambdas/runtime/token-verifier.ts): a JWKS-only authorizer carries no SDK client.
        define:
          needs.jwtSecret && !this.jwtSecret
            ? { [SECRETS_MANAGER_BUILD_FLAG]: 'false' }
            : undefined,
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
      return handler;
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

    this.functions = Object.fromEntries(
      FUNCTION_NAMES.map((name) => [name, (handlers.get(name) as RealtimeHandler).function]),
    ) as TripSyncRealtimeFunctions;
    this.sendFunction = this.functions.send;

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
