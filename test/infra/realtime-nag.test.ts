import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { functionsTriggeredBy, routeKeyOf } from '../../lambdas/manifest';
import { TripSyncRealtimeStack } from '../../lib/tripsync-realtime-stack';
import {
  NO_BUNDLING_CONTEXT,
  type SynthesizedStack,
  synthesizeStack,
  testApp,
} from '../support/cdk-stack';

// cdk-nag reads the construct tree, not the code, so the functions are not bundled here.
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123';
const JWKS = {
  jwksUrl: 'https://issuer.example/.well-known/jwks.json',
  jwtIssuer: 'https://issuer.example',
  jwtAudience: 'tripsync',
};

/** Every option turned on. */
const EVERYTHING = {
  ...JWKS,
  createJwtSecret: true,
  apiGatewayCloudWatchRole: true,
  notificationRule: true,
  presenceEvents: true,
  alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:tripsync-alarms',
};

/** A producer's role in the stack, given every grant the construct offers. */
function grantEverything(stack: TripSyncRealtimeStack): void {
  const producer = new iam.Role(stack, 'Producer', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  stack.realtime.grantSend(producer);
  stack.realtime.grantEnqueue(producer);
  stack.realtime.grantPresence(producer);
}

let defaults: SynthesizedStack;
let everything: SynthesizedStack;
let importedSecret: SynthesizedStack;

beforeAll(() => {
  defaults = synthesizeStack({}, { bundle: false });
  everything = synthesizeStack(EVERYTHING, { bundle: false, extend: grantEverything });
  importedSecret = synthesizeStack({ jwtSecretArn: SECRET_ARN }, { bundle: false });
});

/** The manifest's route keys other than `$connect` (`$disconnect`, `$default`, …). */
function routeKeysAfterConnect(): string[] {
  return functionsTriggeredBy('route')
    .map((name) => routeKeyOf(name) as string)
    .filter((key) => key !== '$connect');
}

/** Each acknowledgment recorded with `Validations.of(...).acknowledge`, under `scope`. */
function acknowledgments(scope: IConstruct): { path: string; id: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['defaults (generated HS256 secret)', () => defaults],
    [
      'JWKS + generated secret + API Gateway logging role + rule, presence events, alarm topic + every grant',
      () => everything,
    ],
    ['an existing secret', () => importedSecret],
  ])('finds no unacknowledged error or warning: %s', (_name, synth) => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(synth().app);

    // Assess
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('reports what is not acknowledged (control: access logging turned off)', () => {
    // Prepare
    const app = testApp({ context: NO_BUNDLING_CONTEXT });
    new TripSyncRealtimeStack(app, 'NoAccessLogs', { accessLogging: false });

    // Act
    const report = new AwsSolutionsChecks().validateScope(app);

    // Assess
    expect(report.violations).toEqual([
      expect.objectContaining({
        ruleName: 'AwsSolutions-APIG1',
        severity: 'error',
        violatingResources: [
          expect.objectContaining({ constructPath: 'NoAccessLogs/Realtime/Stage/Resource' }),
        ],
      }),
    ]);
  });

  it('fails a synthesis with the pack registered, and writes the finding to the report', () => {
    // Prepare: the pack registered as app.ts registers it.
    const app = testApp({ context: NO_BUNDLING_CONTEXT, builtinCloudFormationValidation: false });
    new TripSyncRealtimeStack(app, 'NoAccessLogs', { accessLogging: false });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).toThrow(/AwsSolutions-APIG1/);
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8'));
    expect(
      report.pluginReports.flatMap((r: { violations: { ruleName: string }[] }) =>
        r.violations.map((v) => v.ruleName),
      ),
    ).toEqual(['AwsSolutions-APIG1']);
  });

  it('passes a synthesis with the pack registered', () => {
    // Prepare
    const app = testApp({ context: NO_BUNDLING_CONTEXT, builtinCloudFormationValidation: false });
    new TripSyncRealtimeStack(app, 'Registered', { ...JWKS, apiGatewayCloudWatchRole: true });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    app.synth();

    // Assess
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports).toEqual([]);
  });
});

describe("CDK's built-in CloudFormation validation", () => {
  // The other tests synthesize without it (see testApp). The CLI test runs it on the default
  // app, as `cdk synth` does; this runs it on the stack with every option turned on.
  it('finds nothing with every option turned on and every grant given', () => {
    // Prepare: an app that validates, as `cdk synth` does.
    const app = testApp({ context: NO_BUNDLING_CONTEXT, builtinCloudFormationValidation: true });
    grantEverything(new TripSyncRealtimeStack(app, 'Everything', EVERYTHING));

    // Act
    app.synth();

    // Assess
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports).toEqual([]);
  });
});

describe('acknowledged findings', () => {
  it('are exactly the unavoidable ones, each with its reason', () => {
    // Act
    const acknowledged = acknowledgments(everything.stack).map(({ path, id, reason }) => ({
      path: path.replace(`${everything.stack.stackName}/`, ''),
      id,
      reason,
    }));

    // Assess
    expect(acknowledged.map(({ path, id }) => `${path} ${id}`).sort()).toEqual(
      [
        'ApiGatewayCloudWatchRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'Realtime/JwtSecret AwsSolutions-SMG4',
        // Resolved into send at deploy time: a rotation would apply at the next deployment only.
        'Realtime/ShardSigningKey AwsSolutions-SMG4',
        // Every function that posts (send, the queue consumer, resume): connection ids are
        // known only at runtime (resume posts to the connection that asked, and no other).
        ...['SendHandler', 'SendQueueHandler', 'ResumeHandler'].map(
          (handler) =>
            `Realtime/${handler}/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<RealtimeWebSocketApiF9B350A8>/live/POST/@connections/*]`,
        ),
        // Every route but $connect: API Gateway authorizes a connection on $connect only.
        ...routeKeysAfterConnect().map(
          (key) => `Realtime/WebSocketApi/${key}-Route AwsSolutions-APIG4`,
        ),
      ].sort(),
    );
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(60);
  });

  it('do not include the generated-secret rotation when no secret is created', () => {
    const rotations = acknowledgments(importedSecret.stack).filter(
      (a) => a.id === 'AwsSolutions-SMG4',
    );
    expect(rotations.map((a) => a.path)).toEqual([
      `${importedSecret.stack.stackName}/Realtime/ShardSigningKey`,
    ]);
  });
});
