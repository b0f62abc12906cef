import { RemovalPolicy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { Grant, IRole } from 'aws-cdk-lib/aws-iam';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FUNCTION_NAMES,
  type FunctionName,
  functionSpec,
  functionsTriggeredBy,
} from '../../lambdas/manifest';
import { CONNECTION_TABLE_SCHEMA } from '../../lambdas/shared/connection-table-schema';
import { TOKEN_IDENTITY_SOURCE } from '../../lib';
import {
  allStatements,
  asArray,
  logicalId,
  type SynthesizedStack,
  statementsOfRole,
  synthesizeStack,
} from '../support/cdk-stack';

// The default stack: nothing configured, so the stack creates the HS256 secret. One synth
// for the whole file; a producer role gets `grantSend` so its policy can be inspected.
let synth: SynthesizedStack;
let producerGrant: Grant;
let ids: {
  api: string;
  table: string;
  messageLog: string;
  secret: string;
  shardSigningKey: string;
  stage: string;
  accessLogs: string;
  producerRole: string;
  functions: Record<FunctionName, string>;
  roles: Record<FunctionName, string>;
};

beforeAll(() => {
  synth = synthesizeStack(
    {},
    {
      // The template's assertions hold without the bundles (test/infra/bundles.test.ts and the
      // CLI test build them).
      bundle: false,
      extend: (stack) => {
        const producer = new iam.Role(stack, 'Producer', {
          assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        });
        producerGrant = stack.realtime.grantSend(producer);
      },
    },
  );
  const { realtime } = synth.stack;
  const fns = realtime.functions;
  const names = FUNCTION_NAMES;
  ids = {
    api: logicalId(realtime.webSocketApi),
    table: logicalId(realtime.table),
    messageLog: logicalId(realtime.messageLogTable),
    secret: logicalId(realtime.jwtSecret as ISecret),
    shardSigningKey: logicalId(realtime.shardSigningKey),
    stage: logicalId(realtime.stage),
    accessLogs: logicalId(realtime.accessLogGroup as LogGroup),
    producerRole: logicalId(synth.stack.node.findChild('Producer')),
    functions: Object.fromEntries(names.map((n) => [n, logicalId(fns[n])])) as typeof ids.functions,
    roles: Object.fromEntries(
      names.map((n) => [n, logicalId(fns[n].role as IRole)]),
    ) as typeof ids.roles,
  };
});

const tableArn = () => ({ 'Fn::GetAtt': [ids.table, 'Arn'] });
const messageLogArn = () => ({ 'Fn::GetAtt': [ids.messageLog, 'Arn'] });
const indexArn = () => ({
  'Fn::Join': ['', [tableArn(), `/index/${CONNECTION_TABLE_SCHEMA.connectionIdIndex}`]],
});
/** `https://{apiId}.execute-api.{region}.{urlSuffix}/live` as CloudFormation builds it. */
const stageUrl = (scheme: 'https' | 'wss') => ({
  'Fn::Join': [
    '',
    [
      `${scheme}://`,
      { Ref: ids.api },
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/live',
    ],
  ],
});

/** The default namespace: the stack's own, so two deployments never mix their figures. */
const metricsNamespace = () => `TripSyncRealtime/${synth.stack.stackName}`;

function functionProps(name: keyof typeof ids.functions) {
  return synth.template.toJSON().Resources[ids.functions[name]].Properties;
}

/** For one role: each DynamoDB action it is allowed, with its resources (JSON, sorted). */
function tableActions(role: keyof typeof ids.roles): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const statement of statementsOfRole(synth.template, ids.roles[role])) {
    for (const action of asArray(statement.Action).filter((a) => a.startsWith('dynamodb:'))) {
      result[action] = [
        ...(result[action] ?? []),
        ...asArray(statement.Resource).map((r) => JSON.stringify(r)),
      ].sort();
    }
  }
  return result;
}

describe('WebSocket API', () => {
  it('routes on $request.body.action', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('authorizes $connect with the custom REQUEST authorizer', () => {
    // Prepare
    const authorizers = synth.template.findResources('AWS::ApiGatewayV2::Authorizer');
    const [authorizerId] = Object.keys(authorizers);

    // Act
    const connect = synth.template.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { RouteKey: '$connect' },
    });

    // Assess
    expect(Object.values(connect).map((r) => r.Properties)).toEqual([
      expect.objectContaining({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } }),
    ]);
  });

  it('reads the token from the query string, calling the authorizer function', () => {
    synth.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: [TOKEN_IDENTITY_SOURCE],
      AuthorizerUri: {
        'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [ids.functions.authorizer, 'Arn'] }])],
      },
    });
    expect(TOKEN_IDENTITY_SOURCE).toBe('route.request.querystring.token');
  });

  it('has exactly the routes of the manifest, each on its own function', () => {
    // Prepare
    const integrations = synth.template.toJSON().Resources;
    const target = (routeKey: string) => {
      const [route] = Object.values(
        synth.template.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: routeKey },
        }),
      );
      const integrationId = route?.Properties.Target['Fn::Join'][1][1].Ref as string;
      return JSON.stringify(integrations[integrationId].Properties.IntegrationUri);
    };

    // Act
    const routeKeys = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties.RouteKey,
    );

    // Assess
    const manifestRoutes = functionsTriggeredBy('route').map((name) => {
      const { trigger } = functionSpec(name);
      return [name, trigger.kind === 'route' ? trigger.routeKey : ''] as const;
    });
    expect(manifestRoutes.map(([, routeKey]) => routeKey).sort()).toEqual(routeKeys.sort());
    for (const [name, routeKey] of manifestRoutes) {
      expect(target(routeKey)).toContain(ids.functions[name]);
    }
    expect(target('$connect')).toContain(ids.functions.connect);
    expect(target('$disconnect')).toContain(ids.functions.disconnect);
    expect(target('$default')).toContain(ids.functions.default);
  });

  it('leaves $disconnect and $default without an authorizer (authorized on $connect)', () => {
    for (const routeKey of ['$disconnect', '$default']) {
      synth.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        AuthorizationType: 'NONE',
      });
    }
  });

  it('makes $default two-way with a route response, and only the two-way routes of the manifest', () => {
    // Prepare
    const routeId = (routeKey: string) =>
      Object.keys(
        synth.template.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: routeKey },
        }),
      )[0];
    const twoWay = functionsTriggeredBy('route').flatMap((name) => {
      const { trigger } = functionSpec(name);
      return trigger.kind === 'route' && trigger.twoWay ? [trigger.routeKey] : [];
    });

    // Act
    const responses = Object.values(
      synth.template.findResources('AWS::ApiGatewayV2::RouteResponse'),
    ).map((r) => r.Properties);

    // Assess
    expect(twoWay).toContain('$default');
    expect(responses).toEqual(
      twoWay.map((routeKey) => ({
        ApiId: { Ref: ids.api },
        RouteId: { Ref: routeId(routeKey) },
        RouteResponseKey: '$default',
      })),
    );
    for (const routeKey of twoWay) {
      synth.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        RouteResponseSelectionExpression: '$default',
      });
    }
  });

  it('deploys a stage automatically, throttled by default, with JSON access logs', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: ids.api },
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [ids.accessLogs, 'Arn'] },
        Format: Match.stringLikeRegexp('"connectionId":"\\$context\\.connectionId"'),
      },
    });
  });

  it('keeps the query string (it carries the token) out of the access log', () => {
    // Act
    const [stage] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Stage'));
    const format = stage?.Properties.AccessLogSettings.Format as string;

    // Assess
    expect(() => JSON.parse(format)).not.toThrow();
    expect(format).not.toMatch(/querystring|token/i);
  });
});

describe('connection table', () => {
  it('uses the key schema the handlers use', () => {
    synth.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'connectionId', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'connectionId', AttributeType: 'S' },
      ],
    });
    expect(CONNECTION_TABLE_SCHEMA).toMatchObject({
      partitionKey: 'userId',
      sortKey: 'connectionId',
    });
  });

  it('has the byConnectionId index on connectionId, with the keys and the protocol', () => {
    synth.template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: CONNECTION_TABLE_SCHEMA.connectionIdIndex,
          KeySchema: [{ AttributeName: CONNECTION_TABLE_SCHEMA.sortKey, KeyType: 'HASH' }],
          // A connectionId send reads the connection's protocol from it (no other attribute).
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['protocol'] },
        },
      ],
    });
  });

  it('is on demand, with TTL on expiresAt and point-in-time recovery', () => {
    synth.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: {
        AttributeName: CONNECTION_TABLE_SCHEMA.ttlAttribute,
        Enabled: true,
      },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(CONNECTION_TABLE_SCHEMA.ttlAttribute).toBe('expiresAt');
  });

  it('is deleted with the stack by default (its rows are ephemeral)', () => {
    synth.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });
});

describe('functions', () => {
  const names = FUNCTION_NAMES;

  it('are one per manifest entry, every one on nodejs24.x and arm64', () => {
    // Act
    const functions = Object.values(synth.template.findResources('AWS::Lambda::Function'));

    // Assess
    expect(functions).toHaveLength(FUNCTION_NAMES.length);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
    }
  });

  it.each(names)('%s logs to its own log group with a retention', (name) => {
    // Act
    const logGroupId = functionProps(name).LoggingConfig.LogGroup.Ref as string;
    const logGroup = synth.template.toJSON().Resources[logGroupId];

    // Assess
    expect(logGroup).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
    const others = names.filter((n) => n !== name);
    for (const other of others) {
      expect(functionProps(other).LoggingConfig.LogGroup.Ref).not.toBe(logGroupId);
    }
  });

  it.each(names)('%s runs with its own role and no managed policy', (name) => {
    // Act
    const roleId = functionProps(name).Role['Fn::GetAtt'][0] as string;

    // Assess
    expect(roleId).toBe(ids.roles[name]);
    expect(synth.template.toJSON().Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
  });

  it.each(names)('%s has the description, timeout and memory its manifest entry names', (name) => {
    const spec = functionSpec(name);
    expect(functionProps(name)).toMatchObject({
      Description: spec.description,
      Timeout: spec.timeout === 'sendTimeoutSeconds' ? 30 : 10,
      // send's fan-out is CPU-bound: one full vCPU. The others wait on I/O.
      MemorySize: spec.memory === 'sendMemorySizeMiB' ? 1769 : 256,
    });
  });

  it.each(names)('%s names the service and the log level for Powertools', (name) => {
    expect(functionProps(name).Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
  });

  it('gives connect and disconnect the table and the connection TTL', () => {
    for (const name of ['connect', 'disconnect'] as const) {
      expect(functionProps(name).Environment.Variables).toMatchObject({
        TABLE_NAME: { Ref: ids.table },
        CONNECTION_TTL_SECONDS: '7200',
      });
    }
  });

  it('gives connect the per-user connection cap', () => {
    expect(functionProps('connect').Environment.Variables).toMatchObject({
      MAX_CONNECTIONS_PER_USER: '20',
    });
    expect(functionProps('disconnect').Environment.Variables).not.toHaveProperty(
      'MAX_CONNECTIONS_PER_USER',
    );
  });

  it('gives send the table, the fan-out settings and the endpoint built from API id and stage', () => {
    expect(functionProps('send').Environment.Variables).toEqual({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(),
      TABLE_NAME: { Ref: ids.table },
      MESSAGE_TABLE_NAME: { Ref: ids.messageLog },
      CONNECTIONS_ENDPOINT: stageUrl('https'),
      SEND_CONCURRENCY: '50',
      SEND_SHARD_SIZE: '1000',
      SEND_SHARDS_IN_FLIGHT: '1',
      POST_TIMEOUT_MS: '3000',
      POST_MAX_ATTEMPTS: '3',
      MESSAGE_RETENTION_SECONDS: '86400',
      SHARD_SIGNING_KEY: shardKeyReference(),
    });
  });

  it('gives resume both tables, the post settings, the endpoint and the metrics namespace, not the retention', () => {
    expect(functionProps('resume').Environment.Variables).toEqual({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(),
      TABLE_NAME: { Ref: ids.table },
      MESSAGE_TABLE_NAME: { Ref: ids.messageLog },
      CONNECTIONS_ENDPOINT: stageUrl('https'),
      POST_TIMEOUT_MS: '3000',
      POST_MAX_ATTEMPTS: '3',
    });
  });

  it('gives the queue consumer what send has, and the dead-letter queue, but no shards', () => {
    const {
      SEND_SHARD_SIZE: _size,
      SEND_SHARDS_IN_FLIGHT: _inFlight,
      SHARD_SIGNING_KEY: key,
      ...sendVariables
    } = functionProps('send').Environment.Variables;
    // The shard settings are send's alone: the queue consumer posts a record's fan-out itself.
    expect(key).toBeDefined();
    expect(functionProps('sendQueue').Environment.Variables).toEqual({
      ...sendVariables,
      DEAD_LETTER_QUEUE_URL: { Ref: logicalId(synth.stack.realtime.deadLetterQueue) },
    });
  });

  it('gives presence the table and nothing else', () => {
    expect(functionProps('presence').Environment.Variables).toEqual({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      TABLE_NAME: { Ref: ids.table },
    });
  });

  it('gives the authorizer the secret ARN, never the secret or the table, and the claim rules', () => {
    expect(functionProps('authorizer').Environment.Variables).toEqual({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(),
      JWT_SECRET_ARN: { Ref: ids.secret },
      JWT_AUDIENCE: 'tripsync-realtime',
      JWT_MAX_LIFETIME_SECONDS: '86400',
    });
  });

  it('gives $default nothing beyond logging settings', () => {
    expect(Object.keys(functionProps('default').Environment.Variables).sort()).toEqual([
      'POWERTOOLS_LOG_LEVEL',
      'POWERTOOLS_SERVICE_NAME',
    ]);
  });
});

describe('IAM', () => {
  it('grants each function exactly the table actions it uses', () => {
    const table = JSON.stringify(tableArn());
    const index = JSON.stringify(indexArn());
    // The row and the user's counter item (UpdateItem); the count and a refused row's delete.
    expect(tableActions('connect')).toEqual({
      'dynamodb:PutItem': [table],
      'dynamodb:UpdateItem': [table],
      'dynamodb:Query': [table],
      'dynamodb:DeleteItem': [table],
    });
    // The row, taken off the counter item; the owner, without an authorizer context.
    expect(tableActions('disconnect')).toEqual({
      'dynamodb:DeleteItem': [table],
      'dynamodb:UpdateItem': [table],
      'dynamodb:Query': [index],
    });
    const log = JSON.stringify(messageLogArn());
    expect(tableActions('send')).toEqual({
      'dynamodb:Query': [table, index].sort(),
      // A stale row, and its user's counter item.
      'dynamodb:DeleteItem': [table],
      // Appending to the message log: read the head, put the message, move the head.
      'dynamodb:GetItem': [log],
      'dynamodb:PutItem': [log],
      'dynamodb:UpdateItem': [log, table].sort(),
    });
    // The head and a Query per page of the log; the connection's own row for its protocol and
    // its resume rate limit. Nothing that writes the log or deletes anything.
    expect(tableActions('resume')).toEqual({
      'dynamodb:GetItem': [log, table].sort(),
      'dynamodb:Query': [log],
      'dynamodb:UpdateItem': [table],
    });
    // The queue consumer: send's, and a Query of the log for a redelivered record's first seq.
    expect(tableActions('sendQueue')).toEqual({
      ...tableActions('send'),
      'dynamodb:Query': [table, index, log].sort(),
    });
    expect(tableActions('presence')).toEqual({ 'dynamodb:Query': [table] });
    expect(tableActions('default')).toEqual({});
    expect(tableActions('authorizer')).toEqual({});
  });

  it('allows ManageConnections to send, its queue consumer and resume only, on POST @connections of this API and stage', () => {
    // Act
    const manage = allStatements(synth.template).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('execute-api:')),
    );

    // Assess: send and the queue consumer post to any connection; resume to the one that asked (the code posts to
    // the event's own connection id, which IAM cannot name).
    const postResource = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':execute-api:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':',
          { Ref: ids.api },
          '/live/POST/@connections/*',
        ],
      ],
    };
    const statement = (Sid: string) => ({
      Sid,
      Effect: 'Allow',
      Action: 'execute-api:ManageConnections',
      Resource: postResource,
    });
    expect(manage).toEqual([
      statement('PostReplay'),
      statement('PostToConnections'),
      statement('PostToConnections'),
    ]);
    expect(statementsOfRole(synth.template, ids.roles.send)).toContainEqual(
      statement('PostToConnections'),
    );
    expect(statementsOfRole(synth.template, ids.roles.sendQueue)).toContainEqual(
      statement('PostToConnections'),
    );
    expect(statementsOfRole(synth.template, ids.roles.resume)).toContainEqual(
      statement('PostReplay'),
    );
  });

  it('has no wildcard action and no "*" resource anywhere', () => {
    // Act
    const statements = allStatements(synth.template);

    // Assess
    expect(statements.length).toBeGreaterThan(5);
    for (const statement of statements) {
      for (const action of asArray(statement.Action)) expect(action).not.toContain('*');
      for (const resource of asArray(statement.Resource)) expect(resource).not.toBe('*');
    }
  });

  it('lets the authorizer read the one secret it uses (GetSecretValue only)', () => {
    expect(
      statementsOfRole(synth.template, ids.roles.authorizer).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('secretsmanager:')),
      ),
    ).toEqual([
      {
        Sid: 'ReadJwtSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: ids.secret },
      },
    ]);
  });

  it('lets every function write only to its own log group', () => {
    for (const name of FUNCTION_NAMES) {
      const logGroupId = functionProps(name).LoggingConfig.LogGroup.Ref as string;
      const logStatements = statementsOfRole(synth.template, ids.roles[name]).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('logs:')),
      );
      expect(logStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
        },
      ]);
    }
  });

  it('grantSend allows lambda:InvokeFunction on the send function only', () => {
    expect(producerGrant.success).toBe(true);
    expect(statementsOfRole(synth.template, ids.producerRole)).toEqual([
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: { 'Fn::GetAtt': [ids.functions.send, 'Arn'] },
      },
    ]);
  });
});

describe('HS256 secret', () => {
  it('is generated by Secrets Manager: 64 characters, no punctuation, no value in the template', () => {
    // Act
    const secrets = synth.template.findResources('AWS::SecretsManager::Secret');

    // Assess
    expect(Object.keys(secrets).sort()).toEqual([ids.secret, ids.shardSigningKey].sort());
    expect(secrets[ids.secret]?.Properties.GenerateSecretString).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    expect(secrets[ids.secret]?.Properties.SecretString).toBeUndefined();
  });

  it('never reaches the template as a value, a dynamic reference or JWT_SECRET', () => {
    // Act
    const text = JSON.stringify(synth.template.toJSON());
    const references = [...text.matchAll(/\{\{resolve:secretsmanager:",(\{"Ref":"[^"]+"\})/g)];

    // Assess: the one dynamic reference is the shard key's (below), never the HS256 secret's.
    expect(references.map(([, ref]) => JSON.parse(ref as string))).toEqual([
      { Ref: ids.shardSigningKey },
    ]);
    expect(text).not.toMatch(/"JWT_SECRET"/);
    expect(text).not.toMatch(/"SecretString"/);
    expect(text).toContain('"JWT_SECRET_ARN"');
  });
});

describe('sharded fan-out', () => {
  it('lets send invoke itself and nothing else, in a policy attached once the function exists', () => {
    // Prepare
    const resources = synth.template.toJSON().Resources as Record<
      string,
      { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> }
    >;
    const invokers = allStatements(synth.template).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('lambda:')),
    );

    // Act
    const policy = Object.entries(resources).find(
      ([, r]) =>
        r.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(r.Properties).includes('"Sid":"InvokeOwnShards"'),
    );

    // Assess: send's own ARN, lambda:InvokeFunction only; the producer's grant is the only other.
    const [policyId, { Properties }] = policy as [string, { Properties: Record<string, unknown> }];
    expect(Properties.Roles).toEqual([{ Ref: ids.roles.send }]);
    expect(Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'InvokeOwnShards',
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: { 'Fn::GetAtt': [ids.functions.send, 'Arn'] },
        },
      ],
    });
    expect(invokers).toHaveLength(2);
    // Attached after the function (it names its ARN), so the function does not wait for it:
    // in the role's default policy it would be a circular dependency.
    expect(resources[ids.functions.send]?.DependsOn ?? []).not.toContain(policyId);
  });

  it('signs shard payloads with a generated key that only send receives, by dynamic reference', () => {
    // Act
    const key = synth.template.findResources('AWS::SecretsManager::Secret')[ids.shardSigningKey];
    const holders = names().filter(
      (name) => 'SHARD_SIGNING_KEY' in functionProps(name).Environment.Variables,
    );

    // Assess
    expect(key?.Properties.GenerateSecretString).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    expect(holders).toEqual(['send']);
    // CloudFormation resolves it at deploy: no role reads it, so no statement names it.
    const statements = JSON.stringify(allStatements(synth.template));
    expect(statements).not.toContain(ids.shardSigningKey);
  });
});

function names(): FunctionName[] {
  return FUNCTION_NAMES;
}

/** `{{resolve:secretsmanager:<shard key ARN>:SecretString:::}}` as CloudFormation gets it. */
function shardKeyReference() {
  return {
    'Fn::Join': [
      '',
      ['{{resolve:secretsmanager:', { Ref: ids.shardSigningKey }, ':SecretString:::}}'],
    ],
  };
}

describe('outputs', () => {
  it('exposes the URLs, the functions, the queues, the table, the secret and the dashboard', () => {
    const outputs = synth.template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      'ConnectionTableName',
      'ConnectionsEndpoint',
      'DashboardName',
      'DeadLetterQueueUrl',
      'JwtSecretArn',
      'MessageLogTableName',
      'NotificationQueueArn',
      'NotificationQueueUrl',
      'PresenceFunctionArn',
      'PresenceFunctionName',
      'SendFunctionArn',
      'SendFunctionName',
      'WebSocketUrl',
    ]);
    const queueId = logicalId(synth.stack.realtime.notificationQueue);
    expect(outputs.NotificationQueueUrl.Value).toEqual({ Ref: queueId });
    expect(outputs.NotificationQueueArn.Value).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    expect(outputs.PresenceFunctionName.Value).toEqual({ Ref: ids.functions.presence });
    expect(outputs.WebSocketUrl.Value).toEqual(stageUrl('wss'));
    expect(outputs.ConnectionsEndpoint.Value).toEqual(stageUrl('https'));
    expect(outputs.SendFunctionName.Value).toEqual({ Ref: ids.functions.send });
    expect(outputs.SendFunctionArn.Value).toEqual({
      'Fn::GetAtt': [ids.functions.send, 'Arn'],
    });
    expect(outputs.ConnectionTableName.Value).toEqual({ Ref: ids.table });
    expect(outputs.JwtSecretArn.Value).toEqual({ Ref: ids.secret });
    expect(outputs.MessageLogTableName.Value).toEqual({ Ref: ids.messageLog });
  });
});

describe('message log table', () => {
  const messageLog = () =>
    synth.template.findResources('AWS::DynamoDB::Table')[ids.messageLog] as {
      Properties: Record<string, unknown>;
      DeletionPolicy: string;
      UpdateReplacePolicy: string;
    };

  it('is keyed by user and a numeric seq, on demand, with TTL and point-in-time recovery', () => {
    const { Properties } = messageLog();
    expect(Properties).toEqual({
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'seq', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('is deleted with the stack by default, like the connection table, or as tableRemovalPolicy says', () => {
    expect(messageLog()).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    const retained = synthesizeStack(
      { tableRemovalPolicy: RemovalPolicy.RETAIN },
      { bundle: false },
    );
    const tables = Object.values(retained.template.findResources('AWS::DynamoDB::Table'));
    expect(tables.map((t) => t.DeletionPolicy)).toEqual(['Retain', 'Retain']);
  });

  it('sets MESSAGE_RETENTION_SECONDS from messageRetentionSeconds, and refuses one out of range', () => {
    const custom = synthesizeStack({ messageRetentionSeconds: 3600 }, { bundle: false });
    const send = Object.values(custom.template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment?.Variables?.MESSAGE_RETENTION_SECONDS !== undefined,
    );
    expect(send?.Properties.Environment.Variables.MESSAGE_RETENTION_SECONDS).toBe('3600');
    expect(() => synthesizeStack({ messageRetentionSeconds: 0 }, { bundle: false })).toThrow(
      'TripSyncRealtime: messageRetentionSeconds must be an integer from 1 to 2592000, received 0',
    );
  });
});

describe('construct ids (renaming one replaces the resource)', () => {
  it('keeps the logical ids of the stateful and public resources', () => {
    expect(ids).toMatchObject({
      table: 'RealtimeConnectionTable4300224B',
      secret: 'RealtimeJwtSecret90B361F2',
      shardSigningKey: 'RealtimeShardSigningKey6A4B0EB9',
      api: 'RealtimeWebSocketApiF9B350A8',
      stage: 'RealtimeStageF0371F71',
    });
  });
});
