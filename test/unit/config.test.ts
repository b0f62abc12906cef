import { describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lambdas/config/auth';
import { readConnectConfig } from '../../lambdas/config/connect';
import { readSendConfig } from '../../lambdas/config/send';
import { readStoreConfig } from '../../lambdas/config/store';
import { ConfigError } from '../../lambdas/core/errors';

function configError(read: () => unknown): ConfigError {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const SECRET = 'a-local-secret-of-at-least-32-bytes!!';

describe('readStoreConfig', () => {
  it('reads the table, the optional endpoint and the TTL default', () => {
    expect(
      readStoreConfig({ TABLE_NAME: 'Connections', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000/' }),
    ).toEqual({
      tableName: 'Connections',
      dynamoDbEndpoint: 'http://127.0.0.1:8000',
      connectionTtlSeconds: 7200,
      requestTimeoutMs: 3000,
    });
    expect(readStoreConfig({ TABLE_NAME: 'T' }).dynamoDbEndpoint).toBeUndefined();
  });

  it.each([
    [{}, 'TABLE_NAME', 'TABLE_NAME: is required but not set'],
    [{ TABLE_NAME: '  ' }, 'TABLE_NAME', 'TABLE_NAME: is required but not set'],
    [
      { TABLE_NAME: 'T', DYNAMODB_ENDPOINT: 'localhost:8000' },
      'DYNAMODB_ENDPOINT',
      'DYNAMODB_ENDPOINT: must be an http or https URL, got "localhost:8000"',
    ],
    [
      { TABLE_NAME: 'T', CONNECTION_TTL_SECONDS: '2h' },
      'CONNECTION_TTL_SECONDS',
      'CONNECTION_TTL_SECONDS: must be an integer from 7200 to 604800, got "2h"',
    ],
    [
      { TABLE_NAME: 'T', CONNECTION_TTL_SECONDS: '7199' },
      'CONNECTION_TTL_SECONDS',
      `CONNECTION_TTL_SECONDS: must be at least 7200 (API Gateway's maximum connection duration: rows are never refreshed, so a shorter TTL stops delivery to sockets still open), got "7199"`,
    ],
    [
      { TABLE_NAME: 'T', CONNECTION_TTL_SECONDS: '604801' },
      'CONNECTION_TTL_SECONDS',
      'CONNECTION_TTL_SECONDS: must be an integer from 7200 to 604800, got "604801"',
    ],
  ])('rejects %j naming %s', (env, variable, message) => {
    const error = configError(() => readStoreConfig(env));
    expect(error.variable).toBe(variable);
    expect(error.message).toBe(message);
  });

  it('accepts a TTL of exactly the maximum connection duration, and longer', () => {
    expect(readStoreConfig({ TABLE_NAME: 'T', CONNECTION_TTL_SECONDS: '7200' })).toMatchObject({
      connectionTtlSeconds: 7200,
    });
    expect(readStoreConfig({ TABLE_NAME: 'T', CONNECTION_TTL_SECONDS: '86400' })).toMatchObject({
      connectionTtlSeconds: 86400,
    });
  });
});

describe('readConnectConfig', () => {
  it('caps live connections per user at 20 by default', () => {
    expect(readConnectConfig({})).toEqual({ maxConnectionsPerUser: 20 });
    expect(readConnectConfig({ MAX_CONNECTIONS_PER_USER: '1' })).toEqual({
      maxConnectionsPerUser: 1,
    });
  });

  it.each(['0', '-1', '2.5', 'many', '100001'])('refuses MAX_CONNECTIONS_PER_USER=%s', (raw) => {
    const error = configError(() => readConnectConfig({ MAX_CONNECTIONS_PER_USER: raw }));
    expect(error.variable).toBe('MAX_CONNECTIONS_PER_USER');
    expect(error.message).toBe(
      `MAX_CONNECTIONS_PER_USER: must be an integer from 1 to 100000, got ${JSON.stringify(raw)}`,
    );
  });
});

describe('readSendConfig', () => {
  it('applies the documented defaults', () => {
    expect(
      readSendConfig({
        CONNECTIONS_ENDPOINT: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
      }),
    ).toEqual({
      connectionsEndpoint: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
      fanOut: {
        concurrency: 50,
        postTimeoutMs: 3000,
        maxAttempts: 3,
        backoffBaseMs: 50,
        backoffMaxMs: 1000,
      },
    });
  });

  it('names the variable at fault', () => {
    expect(configError(() => readSendConfig({})).message).toBe(
      'CONNECTIONS_ENDPOINT: is required but not set',
    );
    expect(
      configError(() => readSendConfig({ CONNECTIONS_ENDPOINT: 'http://x', SEND_CONCURRENCY: '0' }))
        .message,
    ).toBe('SEND_CONCURRENCY: must be an integer from 1 to 1000, got "0"');
  });
});

describe('readAuthConfig', () => {
  const RULES = {
    audience: 'tripsync-realtime',
    maxLifetimeSeconds: 86400,
    clockToleranceSeconds: 5,
  };

  it('reads an inline HS256 secret, with the default claim rules', () => {
    expect(readAuthConfig({ JWT_SECRET: SECRET })).toEqual({
      hs256: { kind: 'inline', secret: SECRET },
      jwks: undefined,
      claims: RULES,
    });
  });

  it('reads an audience, issuers and a lifetime for HS256 alone', () => {
    expect(
      readAuthConfig({
        JWT_SECRET: SECRET,
        JWT_AUDIENCE: 'tripsync-web',
        JWT_ISSUER: 'tripsync-backend, https://idp.example.com',
        JWT_MAX_LIFETIME_SECONDS: '3600',
      }).claims,
    ).toEqual({
      audience: 'tripsync-web',
      issuers: ['tripsync-backend', 'https://idp.example.com'],
      maxLifetimeSeconds: 3600,
      clockToleranceSeconds: 5,
    });
  });

  it('reads a Secrets Manager secret and a JWKS together, one audience for both', () => {
    const config = readAuthConfig({
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-AbCdEf',
      JWKS_URL: 'https://idp.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://idp.example.com',
      JWT_AUDIENCE: 'tripsync',
    });
    expect(config.hs256).toEqual({
      kind: 'secretsManager',
      secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-AbCdEf',
    });
    expect(config.jwks).toEqual({ url: 'https://idp.example.com/.well-known/jwks.json' });
    expect(config.claims).toEqual({
      ...RULES,
      audience: 'tripsync',
      issuers: ['https://idp.example.com'],
    });
  });

  it.each([
    'http://127.0.0.1:8080/jwks.json',
    'http://127.1.2.3/jwks.json',
    'http://localhost:9000/.well-known/jwks.json',
    'http://[::1]:9000/jwks.json',
  ])('accepts a plain http JWKS on a loopback address (%s)', (url) => {
    expect(readAuthConfig({ JWKS_URL: url, JWT_ISSUER: 'https://idp.test' }).jwks).toEqual({ url });
  });

  it.each([
    [{}, 'JWT_SECRET', /^JWT_SECRET: no token verification configured/],
    [
      { JWT_SECRET: 'short' },
      'JWT_SECRET',
      /^JWT_SECRET: must be at least 32 bytes for HS256, got 5$/,
    ],
    [{ JWT_SECRET: SECRET, JWT_SECRET_ARN: 'arn:x' }, 'JWT_SECRET', /not both/],
    [
      { JWKS_URL: 'https://idp.example.com/jwks.json', JWT_AUDIENCE: 'a' },
      'JWT_ISSUER',
      /^JWT_ISSUER: is required with JWKS_URL$/,
    ],
    [
      { JWKS_URL: 'http://idp.example.com/jwks.json', JWT_ISSUER: 'https://idp.example.com' },
      'JWKS_URL',
      /^JWKS_URL: must be an https URL \(http only on a loopback address\), got "http:\/\/idp\.example\.com\/jwks\.json"$/,
    ],
    [
      { JWKS_URL: 'http://127.0.0.1.evil.test/jwks.json', JWT_ISSUER: 'https://idp.test' },
      'JWKS_URL',
      /must be an https URL/,
    ],
    [
      { JWKS_URL: 'http://10.0.0.1/jwks.json', JWT_ISSUER: 'https://idp.test' },
      'JWKS_URL',
      /must be an https URL/,
    ],
    [{ JWT_SECRET: SECRET, JWT_ISSUER: 'a,,b' }, 'JWT_ISSUER', /none empty, got "a,,b"$/],
    [
      { JWT_SECRET: SECRET, JWT_MAX_LIFETIME_SECONDS: '0' },
      'JWT_MAX_LIFETIME_SECONDS',
      /^JWT_MAX_LIFETIME_SECONDS: must be an integer from 60 to 604800, got "0"$/,
    ],
    [
      { JWT_SECRET: SECRET, JWT_CLOCK_TOLERANCE_SECONDS: '-1' },
      'JWT_CLOCK_TOLERANCE_SECONDS',
      /from 0 to 300/,
    ],
  ])('rejects %j naming %s', (env, variable, message) => {
    const error = configError(() => readAuthConfig(env));
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });
});
