import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lambdas/config/auth';
import { AuthProviderUnavailableError } from '../../lambdas/core/errors';
import { createVerifier } from '../../lambdas/runtime/token-verifier';
import { hs256Token, TEST_SECRET } from '../support/tokens';

// The deployed authorizer reads its HS256 key from Secrets Manager (`JWT_SECRET_ARN`). Here the
// real SDK client talks to a real HTTP server speaking Secrets Manager's JSON protocol, reached
// through the SDK's standard per-service endpoint variable.

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tripsync-jwt-AbCdEf';
let server: Server;
let answer: { status: number; body: unknown } = {
  status: 200,
  body: { ARN: SECRET_ARN, SecretString: TEST_SECRET },
};
const requests: Array<{ target: string | undefined; body: unknown }> = [];

beforeAll(async () => {
  server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    requests.push({
      target: request.headers['x-amz-target'] as string | undefined,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
    });
    const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1' };
    if (answer.status !== 200) headers['x-amzn-errortype'] = 'InternalServiceError';
    response.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('HS256 secret from Secrets Manager', () => {
  it('fails closed while the secret cannot be read, then reads it once and caches it', async () => {
    const verify = createVerifier(readAuthConfig({ JWT_SECRET_ARN: SECRET_ARN }));
    const token = await hs256Token({ sub: 'from-secrets-manager' });

    answer = { status: 500, body: { __type: 'InternalServiceError', message: 'try again' } };
    const error = await verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthProviderUnavailableError);
    expect((error as Error).message).toMatch(
      /^HS256 secret could not be read from Secrets Manager: /,
    );

    answer = { status: 200, body: { ARN: SECRET_ARN, SecretString: TEST_SECRET } };
    const before = requests.length;
    expect(await verify(token)).toBe('from-secrets-manager');
    expect(await verify(await hs256Token({ sub: 7 }))).toBe('7');
    expect(requests.length - before).toBe(1);
    expect(requests.at(-1)).toEqual({
      target: 'secretsmanager.GetSecretValue',
      body: { SecretId: SECRET_ARN },
    });
  });
});
