import type { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FUNCTION_NAMES,
  type FunctionName,
  functionSpec,
  functionsTriggeredBy,
} from '../../lambdas/manifest';
import { MIN_HS256_SECRET_BYTES } from '../../lambdas/shared/limits';
import type { TripSyncRealtimeStackProps } from '../../lib';
import { GENERATED_SECRET_LENGTH } from '../../lib/tripsync-realtime';
import { asArray, logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';

// Who may invoke what, read off the synthesized template in several configurations: only API
// Gateway, for this API, may invoke the route functions and the authorizer (their resource
// policies), and only grantees may invoke `send` (no resource policy at all; identity policies
// of the grantees alone). Then the other hardening the template carries: the HS256 secret kept
// when the stack goes, $default throttled below $connect, and reserved concurrency.

const JWKS = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};
const CONFIGURATIONS: Record<string, { props: TripSyncRealtimeStackProps; grantee: boolean }> = {
  'defaults, with a grantSend grantee': { props: {}, grantee: true },
  'defaults, no grantee': { props: {}, grantee: false },
  'JWKS only': { props: JWKS, grantee: true },
  'JWKS and HS256, stage v1, floors reserved': {
    props: {
      ...JWKS,
      createJwtSecret: true,
      stageName: 'v1',
      sendReservedConcurrency: 200,
      disconnectReservedConcurrency: 50,
    },
    grantee: true,
  },
  'existing secret, no access logs, nothing reserved': {
    props: {
      jwtSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123',
      accessLogging: false,
      reserveConcurrency: false,
    },
    grantee: false,
  },
};

const synths = new Map<string, SynthesizedStack>();

beforeAll(() => {
  for (const [name, { props, grantee }] of Object.entries(CONFIGURATIONS)) {
    synths.set(
      name,
      synthesizeStack(props, {
        bundle: false,
        extend: grantee
          ? (stack) => {
              const producer = new iam.Role(stack, 'Producer', {
                assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
              });
              stack.realtime.grantSend(producer);
            }
          : undefined,
      }),
    );
  }
}, 120_000);

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> } & object>;

function resources(synth: SynthesizedStack): Resources {
  return synth.template.toJSON().Resources as Resources;
}

/** The manifest name of the function a `FunctionName` property points to, or the raw value. */
function targetOf(synth: SynthesizedStack, functionName: unknown): FunctionName | string {
  const fns = synth.stack.realtime.functions;
  const json = JSON.stringify(functionName);
  for (const name of FUNCTION_NAMES) {
    const id = logicalId(fns[name]);
    if (
      json === JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }) ||
      json === JSON.stringify({ Ref: id })
    ) {
      return name;
    }
  }
  return json;
}

/**
 * `arn:{partition}:execute-api:{region}:{this account}:{this API}` followed by `suffix`, as
 * CloudFormation joins it.
 */
function executeApiArn(synth: SynthesizedStack, suffix: unknown[]): unknown {
  return {
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
        { Ref: logicalId(synth.stack.realtime.webSocketApi) },
        ...suffix,
      ],
    ],
  };
}

/** The one `SourceArn` API Gateway may invoke a function with, from its manifest trigger. */
function expectedSourceArn(synth: SynthesizedStack, name: FunctionName): unknown {
  const { trigger } = functionSpec(name);
  if (trigger.kind === 'authorizer') {
    const [authorizer] = Object.keys(synth.template.findResources('AWS::ApiGatewayV2::Authorizer'));
    return executeApiArn(synth, ['/authorizers/', { Ref: authorizer }]);
  }
  // Any stage of this API, this route only.
  if (trigger.kind === 'route') return executeApiArn(synth, [`/*${trigger.routeKey}`]);
  return undefined;
}

const PERMISSION_KEYS = ['Action', 'FunctionName', 'Principal', 'SourceArn'];

/**
 * Every way the template's `AWS::Lambda::Permission` resources (the functions' resource
 * policies) let someone other than API Gateway, for this API, invoke a function: one sentence
 * per finding, none when the property holds.
 */
function invokePermissionFindings(synth: SynthesizedStack): string[] {
  const findings: string[] = [];
  for (const [id, resource] of Object.entries(resources(synth))) {
    if (resource.Type === 'AWS::Lambda::Url') findings.push(`${id}: a function URL`);
    if (resource.Type !== 'AWS::Lambda::Permission') continue;
    const p = resource.Properties ?? {};
    const target = targetOf(synth, p.FunctionName);
    const where = `${id} (on ${target})`;
    const trigger = FUNCTION_NAMES.includes(target as FunctionName)
      ? functionSpec(target as FunctionName).trigger
      : undefined;
    if (trigger === undefined) findings.push(`${where}: not a function of the manifest`);
    else if (trigger.kind === 'invoke') {
      findings.push(`${where}: a resource policy on a function only grantees may invoke`);
    }
    if (p.Action !== 'lambda:InvokeFunction') findings.push(`${where}: Action ${p.Action}`);
    if (p.Principal !== 'apigateway.amazonaws.com') {
      findings.push(`${where}: Principal ${JSON.stringify(p.Principal)}`);
    }
    if (p.SourceArn === undefined) findings.push(`${where}: no SourceArn`);
    else if (
      trigger !== undefined &&
      JSON.stringify(p.SourceArn) !==
        JSON.stringify(expectedSourceArn(synth, target as FunctionName))
    ) {
      findings.push(`${where}: SourceArn ${JSON.stringify(p.SourceArn)}`);
    }
    for (const key of Object.keys(p).filter((k) => !PERMISSION_KEYS.includes(k))) {
      findings.push(`${where}: ${key} ${JSON.stringify(p[key])}`);
    }
  }
  return findings;
}

/** Logical ids of the roles any identity policy lets invoke a Lambda function, with the resources. */
function invokeGrants(synth: SynthesizedStack): { roles: string[]; resources: unknown[] }[] {
  const grants: { roles: string[]; resources: unknown[] }[] = [];
  for (const resource of Object.values(resources(synth))) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const p = resource.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] };
    };
    for (const statement of p.PolicyDocument.Statement) {
      if (asArray(statement.Action).some((a) => /^lambda:(\*|Invoke)/.test(a))) {
        grants.push({
          roles: p.Roles.map((r) => r.Ref),
          resources: asArray(statement.Resource as unknown[]),
        });
      }
    }
  }
  return grants;
}

describe.each(Object.keys(CONFIGURATIONS))('who may invoke what: %s', (name) => {
  const synth = () => synths.get(name) as SynthesizedStack;

  it('lets only API Gateway, with a SourceArn of this API, invoke the route functions and the authorizer', () => {
    // Act
    const findings = invokePermissionFindings(synth());

    // Assess
    expect(findings).toEqual([]);
  });

  it('gives each route function its route, and the authorizer its authorizer, and nothing more', () => {
    // Act
    const permissions = Object.values(
      synth().template.findResources('AWS::Lambda::Permission'),
    ).map((r) => ({
      target: targetOf(synth(), r.Properties.FunctionName),
      sourceArn: JSON.stringify(r.Properties.SourceArn),
    }));

    // Assess: exactly one permission per API Gateway trigger, none for the others.
    const expected = FUNCTION_NAMES.filter((n) =>
      ['route', 'authorizer'].includes(functionSpec(n).trigger.kind),
    ).map((n) => ({ target: n, sourceArn: JSON.stringify(expectedSourceArn(synth(), n)) }));
    expect(permissions).toEqual(expect.arrayContaining(expected));
    expect(permissions).toHaveLength(expected.length);
    expect(expected.map((e) => e.target)).toEqual(
      expect.arrayContaining([...functionsTriggeredBy('route'), 'authorizer']),
    );
  });

  it('lets nothing but grantees invoke send: no resource policy, identity grants only to them', () => {
    // Prepare
    const send = logicalId(synth().stack.realtime.sendFunction);
    const grantee = CONFIGURATIONS[name]?.grantee ?? false;

    // Act
    const grants = invokeGrants(synth());
    const sendPermissions = Object.values(
      synth().template.findResources('AWS::Lambda::Permission'),
    ).filter((r) => targetOf(synth(), r.Properties.FunctionName) === 'send');

    // Assess
    expect(sendPermissions).toEqual([]);
    const producer = grantee ? [logicalId(synth().stack.node.findChild('Producer'))] : [];
    // send itself, for the shards of a large fan-out (one level deep: lambdas/core/shards.ts).
    const sendRole = logicalId(synth().stack.realtime.sendFunction.role as iam.Role);
    expect(grants.flatMap((g) => g.roles).sort()).toEqual([...producer, sendRole].sort());
    for (const grant of grants) {
      expect(grant.resources).toEqual([{ 'Fn::GetAtt': [send, 'Arn'] }]);
    }
  });
});

describe('the generated HS256 secret', () => {
  it.each(['defaults, with a grantSend grantee', 'JWKS and HS256, stage v1, floors reserved'])(
    'is retained when the stack is deleted or the secret replaced: %s',
    (name) => {
      // Prepare
      const synth = synths.get(name) as SynthesizedStack;
      const id = logicalId(synth.stack.realtime.jwtSecret as Secret);

      // Act
      const secret = resources(synth)[id];

      // Assess
      expect(secret).toMatchObject({
        Type: 'AWS::SecretsManager::Secret',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    },
  );

  it('is long enough for HS256 (RFC 7518: 32 bytes), one byte per letter or digit', () => {
    // Prepare
    const synth = synths.get('defaults, no grantee') as SynthesizedStack;

    // Act
    const [secret] = Object.values(synth.template.findResources('AWS::SecretsManager::Secret'));

    // Assess
    expect(secret?.Properties.GenerateSecretString).toEqual({
      PasswordLength: GENERATED_SECRET_LENGTH,
      ExcludePunctuation: true,
    });
    expect(GENERATED_SECRET_LENGTH).toBeGreaterThanOrEqual(MIN_HS256_SECRET_BYTES);
  });

  it('is not created, so not retained, with an existing secret', () => {
    const synth = synths.get(
      'existing secret, no access logs, nothing reserved',
    ) as SynthesizedStack;
    // The one secret left is send's shard signing key, never a JWT key.
    const secrets = synth.template.findResources('AWS::SecretsManager::Secret');
    expect(Object.keys(secrets)).toEqual([
      logicalId(synth.stack.realtime.shardSigningKey as Secret),
    ]);
  });
});

describe('route throttling', () => {
  /** The limits API Gateway applies to a route: its route settings, else the stage's default. */
  function effectiveThrottle(synth: SynthesizedStack, routeKey: string) {
    const [stage] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Stage'));
    const settings =
      stage?.Properties.RouteSettings?.[routeKey] ?? stage?.Properties.DefaultRouteSettings;
    return { rate: settings?.ThrottlingRateLimit, burst: settings?.ThrottlingBurstLimit };
  }

  it('throttles $default below $connect, with both limits set on the route (defaults)', () => {
    // Prepare
    const synth = synths.get('defaults, no grantee') as SynthesizedStack;

    // Act
    const frames = effectiveThrottle(synth, '$default');
    const connect = effectiveThrottle(synth, '$connect');

    // Assess
    expect(frames).toEqual({ rate: 100, burst: 200 });
    expect(connect).toEqual({ rate: 500, burst: 1000 });
    expect(frames.rate).toBeLessThan(connect.rate);
    expect(frames.burst).toBeLessThan(connect.burst);
  });

  it('sets route settings only for the routes the manifest marks as frames', () => {
    // Prepare
    const synth = synths.get('JWKS only') as SynthesizedStack;
    const frameRoutes = functionsTriggeredBy('route').flatMap((n) => {
      const { trigger } = functionSpec(n);
      return trigger.kind === 'route' && trigger.throttle === 'frames' ? [trigger.routeKey] : [];
    });

    // Act
    const [stage] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Stage'));

    // Assess
    expect(frameRoutes).toEqual(['$default']);
    expect(Object.keys(stage?.Properties.RouteSettings ?? {})).toEqual(frameRoutes);
  });

  it('creates the stage after the routes it throttles (CloudFormation needs them to exist)', () => {
    // Prepare
    const synth = synths.get('defaults, no grantee') as SynthesizedStack;
    const { realtime } = synth.stack;
    const route = realtime.webSocketApi.node.findChild('$default-Route');

    // Act
    const stage = resources(synth)[logicalId(realtime.stage)] as { DependsOn?: string[] };

    // Assess
    expect(stage.DependsOn).toEqual(expect.arrayContaining([logicalId(route)]));
  });

  it('carries the stage-wide settings others add later (detailed metrics) onto $default', () => {
    // Act: another part of the app turns on detailed metrics after the construct is built.
    const synth = synthesizeStack(
      {},
      {
        bundle: false,
        extend: (stack) => {
          const stage = stack.realtime.stage.node.defaultChild as CfnStage;
          stage.defaultRouteSettings = {
            ...(stage.defaultRouteSettings as CfnStage.RouteSettingsProperty),
            detailedMetricsEnabled: true,
          };
        },
      },
    );

    // Assess: a route setting does not fall back to the stage's for the fields it leaves out.
    const [stage] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Stage'));
    expect(stage?.Properties.DefaultRouteSettings).toEqual({
      DetailedMetricsEnabled: true,
      ThrottlingRateLimit: 500,
      ThrottlingBurstLimit: 1000,
    });
    expect(stage?.Properties.RouteSettings).toEqual({
      $default: {
        DetailedMetricsEnabled: true,
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
      },
    });
  });

  it('takes the frame limits from the props', () => {
    // Act
    const synth = synthesizeStack(
      {
        throttlingRateLimitPerSecond: 2000,
        throttlingBurstLimit: 4000,
        frameThrottlingRateLimitPerSecond: 250.5,
        frameThrottlingBurstLimit: 300,
      },
      { bundle: false },
    );

    // Assess
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 2000, ThrottlingBurstLimit: 4000 },
      RouteSettings: { $default: { ThrottlingRateLimit: 250.5, ThrottlingBurstLimit: 300 } },
    });
  });
});

describe('reserved concurrency', () => {
  function reservations(synth: SynthesizedStack): Partial<Record<FunctionName, number>> {
    const result: Partial<Record<FunctionName, number>> = {};
    for (const name of FUNCTION_NAMES) {
      const id = logicalId(synth.stack.realtime.functions[name]);
      const reserved = resources(synth)[id]?.Properties?.ReservedConcurrentExecutions;
      if (reserved !== undefined) result[name] = reserved as number;
    }
    return result;
  }

  it('caps the authorizer (100) and $default (20) by default, and reserves nothing else', () => {
    expect(reservations(synths.get('defaults, no grantee') as SynthesizedStack)).toEqual({
      authorizer: 100,
      default: 20,
    });
  });

  it('reserves by default exactly the ceilings of the manifest', () => {
    // Act
    const reserved = Object.keys(reservations(synths.get('JWKS only') as SynthesizedStack));

    // Assess
    const ceilings = FUNCTION_NAMES.filter(
      (n) => functionSpec(n).reservedConcurrency?.purpose === 'ceiling',
    );
    expect(reserved.sort()).toEqual(ceilings.sort());
    // The clients' entry points: every handshake and every frame.
    expect(ceilings.sort()).toEqual(['authorizer', 'default']);
  });

  it('reserves the floors of send and $disconnect when set', () => {
    expect(
      reservations(synths.get('JWKS and HS256, stage v1, floors reserved') as SynthesizedStack),
    ).toEqual({ authorizer: 100, default: 20, send: 200, disconnect: 50 });
  });

  it('reserves nothing with reserveConcurrency: false', () => {
    expect(
      reservations(
        synths.get('existing secret, no access logs, nothing reserved') as SynthesizedStack,
      ),
    ).toEqual({});
  });

  it('takes each function’s number from the prop its manifest entry names', () => {
    // Act
    const synth = synthesizeStack(
      {
        authorizerReservedConcurrency: 7,
        defaultRouteReservedConcurrency: 3,
        sendReservedConcurrency: 11,
        disconnectReservedConcurrency: 5,
      },
      { bundle: false },
    );

    // Assess
    expect(reservations(synth)).toEqual({ authorizer: 7, default: 3, send: 11, disconnect: 5 });
  });
});
