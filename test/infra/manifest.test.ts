import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BENCHED_HANDLERS } from '../../bench/bundles';
import { readAuthConfig } from '../../lambdas/config/auth';
import { readConnectConfig } from '../../lambdas/config/connect';
import { readSendConfig } from '../../lambdas/config/send';
import { readStoreConfig } from '../../lambdas/config/store';
import {
  FUNCTION_NAMES,
  type FunctionName,
  functionSpec,
  functionsTriggeredBy,
  routeKeyOf,
} from '../../lambdas/manifest';
import { DEPLOYED_SETTINGS, SETTINGS } from '../../lambdas/shared/limits';
import type { TripSyncRealtimeProps } from '../../lib';
import { HANDLER_MODULES } from '../../local/lambda-runtime';
import { logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

describe('lambdas/manifest.ts', () => {
  it.each(FUNCTION_NAMES)('%s: its handler module exists and exports a handler', (name) => {
    const file = repo(`lambdas/${functionSpec(name).entry}`);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/export (async )?function handler\(/);
  });

  it('has one $connect authorizer and each route key once', () => {
    // Act
    const routeKeys = functionsTriggeredBy('route').map((name) => routeKeyOf(name));

    // Assess
    expect(functionsTriggeredBy('authorizer')).toHaveLength(1);
    expect(new Set(routeKeys).size).toBe(routeKeys.length);
    expect(routeKeys).toEqual(expect.arrayContaining(['$connect', '$disconnect']));
  });

  it('is what the local stack runs: one handler module per function, each one a file', () => {
    expect(Object.keys(HANDLER_MODULES)).toEqual(FUNCTION_NAMES);
    for (const modulePath of Object.values(HANDLER_MODULES)) {
      expect(
        existsSync(fileURLToPath(new URL(modulePath, new URL('../../local/', import.meta.url)))),
      ).toBe(true);
    }
  });

  it('is what the bundle benchmark measures: every function, the token verifier twice', () => {
    expect([...new Set(BENCHED_HANDLERS.map((h) => h.function))]).toEqual(FUNCTION_NAMES);
    const verifiers = FUNCTION_NAMES.filter((name) => functionSpec(name).needs.jwtSecret);
    expect(BENCHED_HANDLERS.filter((h) => h.jwksOnly).map((h) => h.function)).toEqual(verifiers);
  });
});

describe('import-free modules', () => {
  // The CDK app, the local stack and the benchmark read these without loading a function, the
  // SDK or CDK; a runtime import would pull one in.
  const IMPORT_FREE = [
    'lambdas/manifest.ts',
    'lambdas/shared/limits.ts',
    'lambdas/shared/connection-table-schema.ts',
    'lambdas/shared/metrics.ts',
    'lambdas/shared/eventbridge.ts',
  ];

  it.each(IMPORT_FREE)('%s imports nothing but types of another import-free module', (file) => {
    // Act
    const source = readFileSync(repo(file), 'utf8');
    const imports = [...source.matchAll(/^(import|export)\s[^;]*?from\s+'([^']+)'/gm)].map(
      ([statement, , from]) => ({ typeOnly: /^(import|export) type /.test(statement), from }),
    );

    // Assess
    for (const { typeOnly, from } of imports) {
      expect({ from, typeOnly }).toEqual({ from, typeOnly: true });
      const target = new URL(`${from}.ts`, new URL(`../../${file}`, import.meta.url));
      expect(IMPORT_FREE.map(repo)).toContain(fileURLToPath(target));
    }
    expect(source).not.toMatch(/\bimport\(|\brequire\(/);
  });
});

describe('limits: the functions accept every value the construct deploys', () => {
  const cases: Record<'lowest' | 'highest', TripSyncRealtimeProps> = {
    lowest: Object.fromEntries(DEPLOYED_SETTINGS.map((key) => [key, SETTINGS[key].min])),
    highest: {
      ...Object.fromEntries(DEPLOYED_SETTINGS.map((key) => [key, SETTINGS[key].max])),
      // The highest post timeout needs a send timeout with room for it.
      sendTimeoutSeconds: 900,
    },
  };
  const synths: Partial<Record<keyof typeof cases, SynthesizedStack>> = {};

  beforeAll(() => {
    for (const [name, props] of Object.entries(cases)) {
      synths[name as keyof typeof cases] = synthesizeStack(props, { bundle: false });
    }
  });

  /** A function's environment as it reaches Lambda: references become plausible values. */
  function deployedEnv(synth: SynthesizedStack, name: FunctionName): Record<string, string> {
    const id = logicalId(synth.stack.realtime.functions[name]);
    const variables: Record<string, unknown> =
      synth.template.toJSON().Resources[id].Properties.Environment.Variables;
    const resolved: Record<string, string> = {
      TABLE_NAME: 'Connections',
      CONNECTIONS_ENDPOINT: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/live',
      SHARD_SIGNING_KEY: 'a'.repeat(64),
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:JwtSecret-AbC123',
    };
    return {
      // Lambda sets it in every function's environment.
      AWS_LAMBDA_FUNCTION_NAME: `Stack-${name}Handler-AbCdEfGh`,
      ...Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : (resolved[key] ?? JSON.stringify(value)),
        ]),
      ),
    };
  }

  it.each(Object.keys(cases) as (keyof typeof cases)[])(
    'at the %s values of every range',
    (which) => {
      // Prepare
      const synth = synths[which] as SynthesizedStack;
      const props = cases[which];

      // Act
      const connect = readStoreConfig(deployedEnv(synth, 'connect'));
      const cap = readConnectConfig(deployedEnv(synth, 'connect'));
      const auth = readAuthConfig(deployedEnv(synth, 'authorizer'));
      const send = readSendConfig(deployedEnv(synth, 'send'));

      // Assess
      expect(connect.connectionTtlSeconds).toBe(props.connectionTtlSeconds);
      expect(cap.maxConnectionsPerUser).toBe(props.maxConnectionsPerUser);
      expect(auth.claims).toMatchObject({
        audience: 'tripsync-realtime',
        maxLifetimeSeconds: props.jwtMaxLifetimeSeconds,
      });
      expect(send.fanOut).toMatchObject({
        concurrency: props.sendConcurrency,
        postTimeoutMs: props.postTimeoutMs,
        maxAttempts: props.postMaxAttempts,
      });
      expect(send.sharding).toMatchObject({
        shardSize: props.sendShardSize,
        shardsInFlight: props.sendShardsInFlight,
      });
    },
  );
});

describe('the claim rules the construct deploys are the ones the authorizer enforces', () => {
  it.each([
    [{}, { audience: 'tripsync-realtime' }],
    [
      { jwtAudience: 'tripsync-web', jwtIssuer: ['https://idp.example', 'tripsync-backend'] },
      { audience: 'tripsync-web', issuers: ['https://idp.example', 'tripsync-backend'] },
    ],
    [{ jwtIssuer: 'tripsync-backend' }, { issuers: ['tripsync-backend'] }],
  ] satisfies [TripSyncRealtimeProps, object][])('%j', (props, claims) => {
    // Prepare
    const synth = synthesizeStack(props, { bundle: false });
    const id = logicalId(synth.stack.realtime.functions.authorizer);
    const variables: Record<string, unknown> =
      synth.template.toJSON().Resources[id].Properties.Environment.Variables;

    // Act
    const auth = readAuthConfig({
      ...(variables as Record<string, string>),
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:JwtSecret-AbC123',
    });

    // Assess
    expect(auth.claims).toMatchObject(claims);
    if (!('issuers' in claims)) expect(auth.claims.issuers).toBeUndefined();
  });
});
