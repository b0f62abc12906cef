import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../lambdas/core/errors';
import { evaluateAuthorizerResult } from '../../local/authorizer-result';
import { DEFAULTS, LOCAL_JWT_SECRET, readLocalStackEnv } from '../../local/config';
import { clientCloseStatus } from '../../local/connection';
import { FrameGuard } from '../../local/frame-guard';
import { invokedFunctionName } from '../../local/lambda-api';
import { managementConnectionId } from '../../local/management-api';

// The local stack's pure parts: authorizer policy evaluation, the frame-size guard, the
// configuration reader, close statuses and the API paths.

const arn = 'arn:aws:execute-api:us-east-1:000000000000:local00000/local/$connect';
const policy = (Effect: string, Resource: string | string[], Action = 'execute-api:Invoke') => ({
  Version: '2012-10-17',
  Statement: [{ Effect, Action, Resource }],
});

describe('evaluateAuthorizerResult', () => {
  test('an Allow for the method lets the connection in with its context', () => {
    expect(
      evaluateAuthorizerResult(
        { principalId: '42', policyDocument: policy('Allow', arn), context: { userId: '42' } },
        arn,
      ),
    ).toEqual({ kind: 'allow', principalId: '42', context: { userId: '42' } });
  });

  test.each([
    ['an explicit Deny', policy('Deny', arn)],
    [
      'a Deny by wildcard beside an Allow',
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: arn },
          {
            Effect: 'Deny',
            Action: 'execute-api:*',
            Resource: 'arn:aws:execute-api:*:*:*/local/*',
          },
        ],
      },
    ],
    ['an Allow for another route', policy('Allow', arn.replace('$connect', 'chat'))],
    ['an Allow for another action', policy('Allow', arn, 's3:GetObject')],
  ])('%s is a deny (403)', (_name, policyDocument) => {
    expect(evaluateAuthorizerResult({ principalId: '42', policyDocument }, arn)).toEqual({
      kind: 'deny',
      principalId: '42',
    });
  });

  test('wildcards in resources match as IAM does', () => {
    const result = evaluateAuthorizerResult(
      {
        principalId: '42',
        policyDocument: policy('Allow', ['arn:aws:execute-api:us-east-1:*:local00000/*/$conn?ct']),
      },
      arn,
    );
    expect(result.kind).toBe('allow');
  });

  test.each([
    ['no principalId', { policyDocument: policy('Allow', arn) }],
    ['no policy', { principalId: '42' }],
    [
      'a nested context value',
      { principalId: '42', policyDocument: policy('Allow', arn), context: { roles: ['a'] } },
    ],
    [
      'more than 8 KB',
      {
        principalId: '42',
        policyDocument: policy('Allow', arn),
        context: { pad: 'x'.repeat(9000) },
      },
    ],
    ['not an object', 'Allow'],
  ])('%s is unusable (500)', (_name, result) => {
    expect(evaluateAuthorizerResult(result, arn).kind).toBe('invalid');
  });
});

/** A client frame header (masked, as clients must send them). */
function frame(opcode: number, length: number, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  let header: Buffer;
  if (length < 126) header = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length]);
  else if (length < 65536) {
    header = Buffer.alloc(4);
    header.writeUInt8((fin ? 0x80 : 0) | opcode, 0);
    header.writeUInt8(0x80 | 126, 1);
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header.writeUInt8((fin ? 0x80 : 0) | opcode, 0);
    header.writeUInt8(0x80 | 127, 1);
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, mask, Buffer.alloc(length, 0x61)]);
}

describe('FrameGuard', () => {
  test('lets frames up to the limit through, whatever the read boundaries', () => {
    // Prepare: 7-bit, 16-bit and fragmented frames, a ping between fragments.
    const stream = Buffer.concat([
      frame(0x1, 10),
      frame(0x1, 32 * 1024),
      frame(0x1, 1000, false),
      frame(0x9, 4),
      frame(0x0, 1000, true),
    ]);

    // Act: every split into two reads, and byte by byte.
    const results = [];
    for (let cut = 0; cut <= stream.length; cut += 97) {
      const guard = new FrameGuard(32 * 1024);
      results.push(guard.push(stream.subarray(0, cut)) ?? guard.push(stream.subarray(cut)));
    }
    const bytewise = new FrameGuard(32 * 1024);
    for (const byte of stream) results.push(bytewise.push(Buffer.from([byte])));

    // Assess
    expect(results.every((r) => r === undefined)).toBe(true);
  });

  test('reports the first oversized data frame and how many messages came before it', () => {
    // Prepare
    const guard = new FrameGuard(32 * 1024);
    const stream = Buffer.concat([
      frame(0x1, 5),
      frame(0x2, 5),
      frame(0x1, 100, false),
      frame(0x0, 70_000),
    ]);

    // Act
    const violation = guard.push(stream.subarray(0, 40)) ?? guard.push(stream.subarray(40));

    // Assess
    expect(violation).toEqual({ frameBytes: 70_000, messagesBefore: 2 });
    expect(guard.violated).toEqual(violation);
  });
});

describe('readLocalStackEnv', () => {
  test('uses the named defaults when nothing is set', () => {
    expect(readLocalStackEnv({})).toMatchObject({
      port: DEFAULTS.port,
      dynamoDbPort: DEFAULTS.dynamoDbPort,
      dynamoDbEndpoint: undefined,
      jwtSecret: LOCAL_JWT_SECRET,
      jwtSecretIsDefault: true,
      idleTimeoutMs: 600_000,
      maxConnectionDurationMs: 7_200_000,
      maxConnectionsPerUser: 20,
      handlerLogLevel: 'WARN',
      functionConcurrency: DEFAULTS.functionConcurrency,
    });
    expect(readLocalStackEnv({ MAX_CONNECTIONS_PER_USER: '2000' }).maxConnectionsPerUser).toBe(
      2000,
    );
  });

  test.each([
    [{ PORT: 'http' }, 'PORT', 'PORT: must be an integer from 0 to 65535, got "http"'],
    [{ DYNAMODB_PORT: '70000' }, 'DYNAMODB_PORT', '"70000"'],
    [{ IDLE_TIMEOUT_MS: '-5' }, 'IDLE_TIMEOUT_MS', '"-5"'],
    [{ MAX_CONNECTION_DURATION_MS: '1.5' }, 'MAX_CONNECTION_DURATION_MS', '"1.5"'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET', 'at least 32 bytes'],
    [{ DYNAMODB_ENDPOINT: 'localhost:8000' }, 'DYNAMODB_ENDPOINT', 'localhost:8000'],
    [
      { DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000', DYNAMODB_PORT: '8001' },
      'DYNAMODB_PORT',
      'DYNAMODB_ENDPOINT',
    ],
    [{ STAGE: 'a/b' }, 'STAGE', '"a/b"'],
    [{ POWERTOOLS_LOG_LEVEL: 'loud' }, 'POWERTOOLS_LOG_LEVEL', '"loud"'],
    [{ FUNCTION_CONCURRENCY: '0' }, 'FUNCTION_CONCURRENCY', 'from 1 to 256, got "0"'],
    [{ MAX_CONNECTIONS_PER_USER: '0' }, 'MAX_CONNECTIONS_PER_USER', 'from 1 to 100000, got "0"'],
  ])('%j is refused, naming %s and what it received', (env, variable, text) => {
    // Act
    let error: unknown;
    try {
      readLocalStackEnv(env);
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(text);
  });
});

describe('close statuses and API paths', () => {
  test.each([
    [1005, '', { code: 1005, reason: 'Client-side close frame status not set' }],
    [1006, '', { code: 1006, reason: 'Connection closed abnormally' }],
    [1000, '', { code: 1000, reason: 'Connection Closed Normally' }],
    [1001, '', { code: 1001, reason: 'Going away' }],
    [4000, 'bye', { code: 4000, reason: 'bye' }],
  ])('a client close %i %j is reported as %j', (code, reason, expected) => {
    expect(clientCloseStatus(code, reason)).toEqual(expected);
  });

  test.each([
    ['/@connections/BFaT_fALIAMCKug%3D', 'BFaT_fALIAMCKug='],
    ['/prod/@connections/BFaT_fALIAMCKug%3D', 'BFaT_fALIAMCKug='],
    ['/%40connections/abc', 'abc'],
    ['/@connections/', undefined],
    ['/a/b/@connections/abc', undefined],
    ['/@connections/%E0%A4%A', undefined],
  ])('management path %s → %s', (path, expected) => {
    expect(managementConnectionId(path)).toBe(expected);
  });

  test.each([
    ['/2015-03-31/functions/send/invocations', 'send'],
    [
      '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Asend/invocations',
      'arn:aws:lambda:us-east-1:000000000000:function:send',
    ],
    ['/2015-03-31/functions/send', undefined],
  ])('invoke path %s → %s', (path, expected) => {
    expect(invokedFunctionName(path)).toBe(expected);
  });
});
