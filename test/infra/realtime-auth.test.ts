import { Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { IRole, Policy } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, functionSpec } from '../../lambdas/manifest';
import {
  TripSyncRealtime,
  type TripSyncRealtimeProps,
  TripSyncRealtimePropsError,
  TripSyncRealtimeStack,
} from '../../lib';
import { stackPropsFromContext } from '../../lib/context';
import {
  allStatements,
  asArray,
  logicalId,
  NO_BUNDLING_CONTEXT,
  type SynthesizedStack,
  statementsOfRole,
  synthesizeStack,
  testApp,
} from '../support/cdk-stack';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123';
const JWKS = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};

function authorizerEnv(synth: SynthesizedStack): Record<string, unknown> {
  const id = logicalId(synth.stack.realtime.functions.authorizer);
  return synth.template.toJSON().Resources[id].Properties.Environment.Variables;
}

function secretStatements(synth: SynthesizedStack) {
  return allStatements(synth.template).filter((s) =>
    asArray(s.Action).some((a) => a.startsWith('secretsmanager:') || a.startsWith('kms:')),
  );
}

// Three configurations, synthesized once each. Only IAM and settings are read here, so the
// functions are not bundled (realtime-template and cdk-cli tests bundle them).
let importedSecret: SynthesizedStack;
let jwksOnly: SynthesizedStack;
let both: SynthesizedStack;

beforeAll(() => {
  const options = { bundle: false };
  importedSecret = synthesizeStack(
    stackPropsFromContext(contextNode({ jwtSecretArn: SECRET_ARN })),
    options,
  );
  jwksOnly = synthesizeStack(stackPropsFromContext(contextNode(JWKS)), options);
  both = synthesizeStack({ ...JWKS, createJwtSecret: true, stageName: 'v1' }, options);
});

/** The secrets a stack creates but the shard signing key (every stack has that one). */
function createdJwtSecrets(synth: SynthesizedStack): string[] {
  const shardKey = logicalId(synth.stack.realtime.shardSigningKey);
  return Object.keys(synth.template.findResources('AWS::SecretsManager::Secret')).filter(
    (id) => id !== shardKey,
  );
}

/** An app node carrying `-c key=value` context, as the CLI passes it (strings). */
function contextNode(context: Record<string, string>) {
  return testApp({ context }).node;
}

describe('HS256 with an existing secret (-c jwtSecretArn=...)', () => {
  it('passes the ARN to the authorizer and creates no secret', () => {
    expect(authorizerEnv(importedSecret)).toMatchObject({
      JWT_SECRET_ARN: SECRET_ARN,
      JWT_AUDIENCE: 'tripsync-realtime',
    });
    expect(authorizerEnv(importedSecret)).not.toHaveProperty('JWKS_URL');
    expect(authorizerEnv(importedSecret)).not.toHaveProperty('JWT_ISSUER');
    expect(createdJwtSecrets(importedSecret)).toHaveLength(0);
  });

  it('lets the authorizer role, and no other, read exactly that secret', () => {
    // Prepare
    const authorizerRole = logicalId(
      importedSecret.stack.realtime.functions.authorizer.role as IRole,
    );

    // Act
    const statements = secretStatements(importedSecret);

    // Assess
    const expected = {
      Sid: 'ReadJwtSecret',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: SECRET_ARN,
    };
    expect(statements).toEqual([expected]);
    expect(statementsOfRole(importedSecret.template, authorizerRole)).toContainEqual(expected);
  });

  it('outputs the secret ARN', () => {
    expect(importedSecret.template.toJSON().Outputs.JwtSecretArn.Value).toBe(SECRET_ARN);
  });
});

describe('JWKS only (-c jwksUrl=... -c jwtIssuer=... -c jwtAudience=...)', () => {
  it('passes URL, issuer, audience and lifetime to the authorizer, and no secret', () => {
    expect(authorizerEnv(jwksOnly)).toEqual({
      POWERTOOLS_SERVICE_NAME: 'tripsync-realtime',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: `TripSyncRealtime/${jwksOnly.stack.stackName}`,
      JWKS_URL: JWKS.jwksUrl,
      JWT_ISSUER: JWKS.jwtIssuer,
      JWT_AUDIENCE: JWKS.jwtAudience,
      JWT_MAX_LIFETIME_SECONDS: '86400',
    });
  });

  it('creates no secret, grants no secret access and outputs no secret ARN', () => {
    expect(createdJwtSecrets(jwksOnly)).toHaveLength(0);
    expect(secretStatements(jwksOnly)).toEqual([]);
    expect(jwksOnly.template.toJSON().Outputs).not.toHaveProperty('JwtSecretArn');
  });
});

describe('HS256 and JWKS together', () => {
  it('configures both verifiers on the authorizer', () => {
    const secretId = logicalId(both.stack.realtime.jwtSecret as Secret);
    expect(authorizerEnv(both)).toMatchObject({
      JWT_SECRET_ARN: { Ref: secretId },
      JWKS_URL: JWKS.jwksUrl,
      JWT_ISSUER: JWKS.jwtIssuer,
      JWT_AUDIENCE: JWKS.jwtAudience,
    });
    expect(createdJwtSecrets(both)).toEqual([secretId]);
  });

  it('scopes ManageConnections and CONNECTIONS_ENDPOINT to the configured stage', () => {
    // Prepare
    const send = logicalId(both.stack.realtime.sendFunction);

    // Act
    const env = both.template.toJSON().Resources[send].Properties.Environment.Variables;
    const manage = allStatements(both.template).filter((s) =>
      asArray(s.Action).includes('execute-api:ManageConnections'),
    );

    // Assess: one statement per function that posts (send and the queue consumer).
    expect(JSON.stringify(env.CONNECTIONS_ENDPOINT)).toMatch(/"\/v1"\]\]\}$/);
    // send's, the queue consumer's and resume's statements, all on POST of this stage only.
    expect(manage).toHaveLength(
      FUNCTION_NAMES.filter((name) => functionSpec(name).needs.managementApi).length,
    );
    expect(manage).toHaveLength(3);
    for (const statement of manage) {
      expect(JSON.stringify(statement.Resource)).toContain('"/v1/POST/@connections/*"');
    }
    both.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'v1' });
  });
});

describe('token claims: audience, issuers and lifetime reach the authorizer', () => {
  /** The authorizer's environment for these props, without synthesizing the whole app. */
  function claimsEnv(props: TripSyncRealtimeProps): Record<string, unknown> {
    const stack = new Stack(testApp({ context: NO_BUNDLING_CONTEXT }), 'Claims');
    const realtime = new TripSyncRealtime(stack, 'Realtime', props);
    const fn = realtime.functions.authorizer.node.defaultChild as CfnFunction;
    const environment = stack.resolve(fn.environment) as { variables: Record<string, unknown> };
    return environment.variables;
  }

  it('binds HS256 tokens to the default audience, with the default lifetime, iss unchecked', () => {
    // Act
    const env = claimsEnv({});

    // Assess
    expect(env).toMatchObject({
      JWT_AUDIENCE: 'tripsync-realtime',
      JWT_MAX_LIFETIME_SECONDS: '86400',
    });
    expect(env).not.toHaveProperty('JWT_ISSUER');
  });

  it('checks iss on HS256 tokens when jwtIssuer is given without a JWKS', () => {
    expect(claimsEnv({ jwtIssuer: 'tripsync-backend' })).toMatchObject({
      JWT_ISSUER: 'tripsync-backend',
    });
  });

  it('passes a list of issuers comma-separated, trimmed, for HS256 and a JWKS side by side', () => {
    // Act
    const env = claimsEnv({
      ...JWKS,
      jwtIssuer: [JWKS.jwtIssuer, ' tripsync-backend '],
      createJwtSecret: true,
      jwtMaxLifetimeSeconds: 3600,
    });

    // Assess
    expect(env).toMatchObject({
      JWKS_URL: JWKS.jwksUrl,
      JWT_ISSUER: `${JWKS.jwtIssuer},tripsync-backend`,
      JWT_AUDIENCE: 'tripsync-web',
      JWT_MAX_LIFETIME_SECONDS: '3600',
    });
  });

  it('passes an audience of its own to HS256 alone', () => {
    expect(claimsEnv({ jwtAudience: 'tripsync-realtime-staging' })).toMatchObject({
      JWT_AUDIENCE: 'tripsync-realtime-staging',
    });
  });
});

describe('a secret encrypted with a customer managed key', () => {
  it('also gets kms:Decrypt on that key', () => {
    // Prepare
    const stack = new Stack(testApp({ context: NO_BUNDLING_CONTEXT }), 'Kms');
    const key = Key.fromKeyArn(
      stack,
      'Key',
      'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    );
    const secret = Secret.fromSecretAttributes(stack, 'Secret', {
      secretCompleteArn: SECRET_ARN,
      encryptionKey: key,
    });

    // Act: not synthesized; the role's policy document is inspected directly.
    const realtime = new TripSyncRealtime(stack, 'Realtime', { jwtSecret: secret });
    const role = realtime.functions.authorizer.role as IRole;
    const policy = stack.resolve((role.node.findChild('DefaultPolicy') as Policy).document);

    // Assess
    expect(JSON.stringify(policy)).toContain('kms:Decrypt');
    expect(JSON.stringify(policy)).toContain(key.keyArn);
  });
});

describe('props validation', () => {
  // Validation runs before anything is built, so these construct no functions.
  function build(props: TripSyncRealtimeProps): () => void {
    return () => new TripSyncRealtime(new Stack(testApp(), 'Validation'), 'Realtime', props);
  }

  function rejection(fn: () => void): TripSyncRealtimePropsError {
    try {
      fn();
    } catch (error) {
      if (error instanceof TripSyncRealtimePropsError) return error;
      throw error;
    }
    throw new Error('expected a TripSyncRealtimePropsError, nothing was thrown');
  }

  it.each([
    [
      { jwksUrl: JWKS.jwksUrl },
      'jwtIssuer',
      `is required with jwksUrl (received jwksUrl="${JWKS.jwksUrl}"): a JWKS may publish the keys of many tenants`,
    ],
    [
      { jwksUrl: JWKS.jwksUrl, jwtAudience: 'tripsync-web' },
      'jwtIssuer',
      'is required with jwksUrl',
    ],
    [
      { ...JWKS, jwksUrl: 'http://issuer.example/jwks.json' },
      'jwksUrl',
      'must be an https URL (keys fetched over http can be swapped in transit), received "http://issuer.example/jwks.json"',
    ],
    // The authorizer accepts http on a loopback address for local tests; AWS never reaches one.
    [{ ...JWKS, jwksUrl: 'http://127.0.0.1:9000/jwks.json' }, 'jwksUrl', 'must be an https URL'],
    [{ ...JWKS, jwksUrl: ' ' }, 'jwksUrl', 'must not be empty'],
    [{ ...JWKS, jwtAudience: ' ' }, 'jwtAudience', 'must not be empty, received " "'],
    [{ jwtAudience: '' }, 'jwtAudience', 'must not be empty, received ""'],
    [{ ...JWKS, jwtIssuer: [] }, 'jwtIssuer', 'must name at least one issuer'],
    [{ jwtIssuer: ['tripsync-backend', ' '] }, 'jwtIssuer', 'must not be empty, received " "'],
    [{ jwtIssuer: 'a,b' }, 'jwtIssuer', 'without commas (JWT_ISSUER separates them'],
    [{ jwtMaxLifetimeSeconds: 59 }, 'jwtMaxLifetimeSeconds', 'from 60 to 604800, received 59'],
    [{ jwtMaxLifetimeSeconds: 604_801 }, 'jwtMaxLifetimeSeconds', 'received 604801'],
    [
      { maxConnectionsPerUser: 0 },
      'maxConnectionsPerUser',
      'must be at least 1 (a cap of 0 would refuse every connection), received 0',
    ],
    [
      { maxConnectionsPerUser: 100_001 },
      'maxConnectionsPerUser',
      'from 1 to 100000, received 100001',
    ],
    [{ maxConnectionsPerUser: 2.5 }, 'maxConnectionsPerUser', 'received 2.5'],
    [
      { createJwtSecret: false },
      'createJwtSecret',
      'is false and neither jwtSecret nor jwksUrl is given',
    ],
    [{ stageName: 'my stage' }, 'stageName', 'received "my stage"'],
    [
      { connectionTtlSeconds: 30 },
      'connectionTtlSeconds',
      'must be at least 7200 (',
      'received 30',
    ],
    // Rows are never refreshed and send skips expired ones: shorter than the 2-hour maximum
    // connection duration would leave open sockets unreachable (lambdas/shared/limits.ts).
    [
      { connectionTtlSeconds: 7199 },
      'connectionTtlSeconds',
      "must be at least 7200 (API Gateway's maximum connection duration: rows are never refreshed, so a shorter TTL stops delivery to sockets still open), received 7199",
    ],
    [{ connectionTtlSeconds: 604_801 }, 'connectionTtlSeconds', 'from 7200 to 604800'],
    [{ sendConcurrency: 0 }, 'sendConcurrency', 'from 1 to 1000, received 0'],
    [{ postTimeoutMs: 2.5 }, 'postTimeoutMs', 'received 2.5'],
    [{ postMaxAttempts: 11 }, 'postMaxAttempts', 'from 1 to 10, received 11'],
    [{ handlerTimeoutSeconds: 30 }, 'handlerTimeoutSeconds', 'from 1 to 29, received 30'],
    [
      { throttlingRateLimitPerSecond: -1 },
      'throttlingRateLimitPerSecond',
      'greater than 0, received -1',
    ],
    [{ throttlingBurstLimit: 0 }, 'throttlingBurstLimit', 'received 0'],
    [
      { frameThrottlingRateLimitPerSecond: 0 },
      'frameThrottlingRateLimitPerSecond',
      'greater than 0, received 0',
    ],
    [{ frameThrottlingBurstLimit: 0 }, 'frameThrottlingBurstLimit', 'from 1 to 5000, received 0'],
    [
      { authorizerReservedConcurrency: 0 },
      'authorizerReservedConcurrency',
      'must be at least 1 (Lambda runs no invocation of a function whose reserved concurrency is 0',
    ],
    [{ defaultRouteReservedConcurrency: 0 }, 'defaultRouteReservedConcurrency', 'at least 1'],
    [{ sendReservedConcurrency: 0 }, 'sendReservedConcurrency', 'at least 1'],
    [{ disconnectReservedConcurrency: -1 }, 'disconnectReservedConcurrency', 'received -1'],
    [{ sendReservedConcurrency: 2.5 }, 'sendReservedConcurrency', 'received 2.5'],
    [
      { authorizerReservedConcurrency: 100_001 },
      'authorizerReservedConcurrency',
      'from 1 to 100000, received 100001',
    ],
  ] satisfies [TripSyncRealtimeProps, string, ...string[]][])(
    'refuses %j, naming %s',
    (props, propName, ...messages) => {
      // Act
      const error = rejection(build(props));

      // Assess
      expect(error.name).toBe('TripSyncRealtimePropsError');
      expect(error.propName).toBe(propName);
      expect(error.message).toMatch(new RegExp(`^TripSyncRealtime: ${propName} `));
      for (const message of messages) expect(error.message).toContain(message);
    },
  );

  it.each([
    [
      { frameThrottlingRateLimitPerSecond: 501 },
      'frameThrottlingRateLimitPerSecond',
      'throttlingRateLimitPerSecond',
      '(501) must not exceed throttlingRateLimitPerSecond (500)',
    ],
    [
      { throttlingRateLimitPerSecond: 50 },
      'frameThrottlingRateLimitPerSecond',
      'throttlingRateLimitPerSecond',
      '(100) must not exceed throttlingRateLimitPerSecond (50)',
    ],
    [
      { throttlingBurstLimit: 100 },
      'frameThrottlingBurstLimit',
      'throttlingBurstLimit',
      '(200) must not exceed throttlingBurstLimit (100)',
    ],
    [
      { reserveConcurrency: false, sendReservedConcurrency: 50 },
      'reserveConcurrency',
      'sendReservedConcurrency',
      'is false, so sendReservedConcurrency would be ignored',
    ],
  ] satisfies [TripSyncRealtimeProps, string, string, string][])(
    'refuses %j, naming %s and %s',
    (props, propName, relatedPropName, message) => {
      // Act
      const error = rejection(build(props));

      // Assess
      expect(error.propName).toBe(propName);
      expect(error.relatedPropName).toBe(relatedPropName);
      expect(error.message).toContain(message);
    },
  );

  it.each([
    { jwtIssuer: JWKS.jwtIssuer },
    { jwtIssuer: ['tripsync-backend', 'tripsync-admin'] },
    { jwtAudience: 'tripsync-web' },
    { maxConnectionsPerUser: 1 },
    { frameThrottlingRateLimitPerSecond: 500, frameThrottlingBurstLimit: 1000 },
    { reserveConcurrency: false },
    { sendReservedConcurrency: 1, disconnectReservedConcurrency: 1 },
  ] satisfies TripSyncRealtimeProps[])('accepts %j', (props) => {
    const app = testApp({ context: NO_BUNDLING_CONTEXT });
    expect(() => new TripSyncRealtime(new Stack(app, 'Valid'), 'Realtime', props)).not.toThrow();
  });

  it.each([
    [
      { sendTimeoutSeconds: 3, postTimeoutMs: 3000 },
      'must leave room inside sendTimeoutSeconds (3 s',
    ],
    [{ sendTimeoutSeconds: 5 }, 'or sendTimeoutSeconds to at least 6'],
    [{ sendTimeoutSeconds: 3, postTimeoutMs: 1000 }, 'Set postTimeoutMs below 1000'],
    [{ sendTimeoutSeconds: 2, postTimeoutMs: 10 }, 'Set sendTimeoutSeconds to at least 3'],
  ] satisfies [TripSyncRealtimeProps, string][])(
    'refuses %j: no post could start before the send timeout, naming both props',
    (props, message) => {
      // Act
      const error = rejection(build(props));

      // Assess
      expect(error.propName).toBe('postTimeoutMs');
      expect(error.relatedPropName).toBe('sendTimeoutSeconds');
      expect(error.message).toMatch(/postTimeoutMs .*sendTimeoutSeconds/);
      expect(error.message).toContain(message);
    },
  );

  it.each([
    { sendTimeoutSeconds: 6, postTimeoutMs: 3000 },
    { sendTimeoutSeconds: 3, postTimeoutMs: 999 },
  ] satisfies TripSyncRealtimeProps[])(
    'accepts %j: a post of a shard fits before the send timeout',
    (props) => {
      const app = testApp({ context: NO_BUNDLING_CONTEXT });
      expect(() => new TripSyncRealtime(new Stack(app, 'Fits'), 'Realtime', props)).not.toThrow();
    },
  );

  it.each([
    [{}, 1769, 1],
    [{ sendMemorySizeMiB: 256 }, 256, 13],
    [{ sendMemorySizeMiB: 256, sendShardsInFlight: 4 }, 256, 4],
  ] satisfies [TripSyncRealtimeProps, number, number][])(
    'deploys send with %j at %i MiB and %i shard invocation(s) in flight',
    (props, memory, inFlight) => {
      // Act
      const synth = synthesizeStack(props, { bundle: false });

      // Assess: fewer vCPUs per invocation, more invocations, about the same posting rate.
      const send = synth.template.toJSON().Resources[logicalId(synth.stack.realtime.sendFunction)];
      expect(send.Properties.MemorySize).toBe(memory);
      expect(send.Properties.Environment.Variables.SEND_SHARDS_IN_FLIGHT).toBe(String(inFlight));
    },
  );

  describe('warnings', () => {
    const warnings = (props: TripSyncRealtimeProps) => {
      const stack = new Stack(testApp({ context: NO_BUNDLING_CONTEXT }), 'Warnings');
      new TripSyncRealtime(stack, 'Realtime', props);
      return Annotations.fromStack(stack)
        .findWarning('*', Match.anyValue())
        .map((w) => String(w.entry.data));
    };

    it('warns nothing by default: the ceilings leave 880 of a 1,000-execution account unreserved', () => {
      expect(warnings({})).toEqual([]);
      expect(
        warnings({ sendReservedConcurrency: 500, disconnectReservedConcurrency: 280 }),
      ).toEqual([]);
    });

    it('warns when the reservations need more than an account with the default quota can give', () => {
      // Act
      const over = warnings({ sendReservedConcurrency: 500, disconnectReservedConcurrency: 281 });

      // Assess
      expect(over).toEqual([
        expect.stringContaining(
          'The functions reserve 901 concurrent executions in all: Lambda keeps 100 of an ' +
            "account's unreserved, so the deployment fails unless the account's concurrency " +
            'quota in this region is at least 1001',
        ),
      ]);
    });
  });

  it('refuses an existing secret together with createJwtSecret', () => {
    // Prepare
    const stack = new Stack(testApp(), 'Validation');
    const jwtSecret = Secret.fromSecretCompleteArn(stack, 'Existing', SECRET_ARN);

    // Act
    const error = rejection(
      () => new TripSyncRealtime(stack, 'Realtime', { jwtSecret, createJwtSecret: true }),
    );

    // Assess
    expect(error.propName).toBe('createJwtSecret');
    expect(error.message).toContain('when jwtSecret is given');
  });

  it('refuses a partial secret ARN, which would need a wildcard grant', () => {
    // Act
    const error = rejection(
      () =>
        new TripSyncRealtimeStack(testApp(), 'Validation', {
          jwtSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt',
        }),
    );

    // Assess
    expect(error.propName).toBe('jwtSecretArn');
    expect(error.message).toContain(
      'received "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt"',
    );
  });

  it('refuses jwtSecretArn together with createJwtSecret, naming both', () => {
    // Act
    const error = rejection(
      () =>
        new TripSyncRealtimeStack(testApp(), 'Validation', {
          jwtSecretArn: SECRET_ARN,
          createJwtSecret: true,
        }),
    );

    // Assess
    expect(error.propName).toBe('createJwtSecret');
    expect(error.relatedPropName).toBe('jwtSecretArn');
    expect(error.message).toContain('when jwtSecretArn is given');
  });

  it('refuses jwtSecretArn together with jwtSecret', () => {
    // Prepare
    const app = testApp();
    const other = new Stack(app, 'Other');
    const jwtSecret = Secret.fromSecretCompleteArn(other, 'Existing', SECRET_ARN);

    // Act
    const error = rejection(
      () => new TripSyncRealtimeStack(app, 'Validation', { jwtSecretArn: SECRET_ARN, jwtSecret }),
    );

    // Assess
    expect(error.propName).toBe('jwtSecretArn');
  });
});

describe('context', () => {
  it('reads strings and booleans as the CLI passes them', () => {
    expect(
      stackPropsFromContext(
        contextNode({ ...JWKS, createJwtSecret: 'true', accessLogging: 'false', stageName: 'v2' }),
      ),
    ).toEqual({ ...JWKS, createJwtSecret: true, accessLogging: false, stageName: 'v2' });
  });

  it('reads whole numbers, and several issuers separated by commas', () => {
    expect(
      stackPropsFromContext(
        contextNode({
          jwtIssuer: 'https://idp.example, tripsync-backend',
          maxConnectionsPerUser: '5',
          jwtMaxLifetimeSeconds: '3600',
          sendReservedConcurrency: '50',
          reserveConcurrency: 'true',
        }),
      ),
    ).toEqual({
      jwtIssuer: ['https://idp.example', 'tripsync-backend'],
      maxConnectionsPerUser: 5,
      jwtMaxLifetimeSeconds: 3600,
      sendReservedConcurrency: 50,
      reserveConcurrency: true,
    });
  });

  it('passes a cap of 0 on to the props, which refuse it naming the prop', () => {
    // Act
    const props = stackPropsFromContext(contextNode({ maxConnectionsPerUser: '0' }));
    const error = (() => {
      try {
        new TripSyncRealtimeStack(testApp({ context: NO_BUNDLING_CONTEXT }), 'Zero', props);
      } catch (caught) {
        return caught as TripSyncRealtimePropsError;
      }
      throw new Error('expected the stack to refuse a cap of 0');
    })();

    // Assess
    expect(error.propName).toBe('maxConnectionsPerUser');
  });

  it('ignores keys that are not set', () => {
    expect(stackPropsFromContext(contextNode({}))).toEqual({});
  });

  it.each([
    [{ createJwtSecret: 'yes' }, 'context createJwtSecret must be true or false, received "yes"'],
    [{ jwksUrl: '' }, 'context jwksUrl must be a non-empty string, received ""'],
    [{ maxConnectionsPerUser: 'twenty' }, 'context maxConnectionsPerUser must be a whole number'],
    [{ sendReservedConcurrency: '2.5' }, 'must be a whole number, received "2.5"'],
    [{ reserveConcurrency: 'no' }, 'context reserveConcurrency must be true or false'],
  ])('refuses %j', (context, message) => {
    expect(() => stackPropsFromContext(contextNode(context))).toThrow(message);
  });
});
