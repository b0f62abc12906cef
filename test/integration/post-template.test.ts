import { createHash, createHmac } from 'node:crypto';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManagementApiGateway } from '../../lambdas/adapters/management-api-gateway';
import { readSendConfig } from '../../lambdas/config/send';
import { ConnectionGoneError, PostFailedError } from '../../lambdas/core/errors';
import { createConnectionGateway } from '../../lambdas/runtime/gateway';
import {
  type FakeManagementApi,
  type PostBehaviour,
  type ReceivedPost,
  startFakeManagementApi,
} from '../support/fake-management-api';

// A send's posts after its first replay the request the SDK client built for it
// (lambdas/adapters/post-template.ts). What goes on the wire must not change: each replayed
// post is compared, header by header, with the request the client itself writes for the same
// connection and body, against a real HTTP server, and its signature is checked by signing the
// received request again.

const CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'session-token-of-the-lambda-role',
};
const REGION = 'eu-west-1';
let api: FakeManagementApi;
let gateway: ManagementApiGateway;
const saved: Record<string, string | undefined> = {};

function useEnv(values: Record<string, string | undefined>) {
  for (const [name, value] of Object.entries(values)) {
    if (!(name in saved)) saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

beforeAll(async () => {
  api = await startFakeManagementApi();
  // The credentials of a Lambda role: with a session token, as the SDK signs on AWS.
  useEnv({ ...CREDENTIALS, AWS_REGION: REGION });
  gateway = createConnectionGateway(
    readSendConfig({ CONNECTIONS_ENDPOINT: `${api.endpoint}/live`, POST_TIMEOUT_MS: '300' }),
  );
});
afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await api.stop();
});
beforeEach(() => {
  api.posts.length = 0;
  api.setDefault('ok');
});

const bytes = (text: string) => new TextEncoder().encode(text);
const deadline = () => AbortSignal.timeout(2000);
const pairs = (post: ReceivedPost) =>
  Array.from({ length: post.rawHeaders.length / 2 }, (_, i) => [
    post.rawHeaders[2 * i] as string,
    post.rawHeaders[2 * i + 1] as string,
  ]);
const header = (post: ReceivedPost, name: string) =>
  pairs(post).find(([key]) => key?.toLowerCase() === name)?.[1];
const lastPostTo = (connectionId: string) =>
  api.posts.filter((p) => p.connectionId === connectionId).at(-1) as ReceivedPost;

const bytesOf = (data: SourceData) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** SHA-256 and HMAC-SHA-256 as SigV4 needs them, from node:crypto. */
class NodeSha256 {
  private readonly hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** Signs the received request again and returns the `Authorization` it should carry. */
async function expectedAuthorization(post: ReceivedPost): Promise<string> {
  const authorization = header(post, 'authorization') as string;
  const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const headers = Object.fromEntries(
    pairs(post).filter(([name]) => signed.includes((name as string).toLowerCase())),
  );
  const [, host, port] = /^([^:]+):(\d+)$/.exec(header(post, 'host') as string) ?? [];
  const amzDate = header(post, 'x-amz-date') as string;
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: CREDENTIALS.AWS_ACCESS_KEY_ID,
      secretAccessKey: CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      sessionToken: CREDENTIALS.AWS_SESSION_TOKEN,
    },
    region: REGION,
    service: 'execute-api',
    sha256: NodeSha256,
  });
  const request = new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname: host,
    port: Number(port),
    path: post.path,
    headers,
    body: post.body,
  });
  const resigned = await signer.sign(request, { signingDate });
  return resigned.headers.authorization as string;
}

describe('replayed posts', () => {
  it.each([
    ['an API Gateway id', 'BFaT_fALIAMCKug='],
    ['characters the SDK escapes', "a/b+c=it's(1)*!~ü"],
  ])('write what the SDK client writes, signed as it signs (%s)', async (_, connectionId) => {
    // Prepare: the send's first post goes through the client and records its request.
    const send = gateway.forSend();
    await send.postToConnection('first-post=', bytes('{"n":0}'), deadline());
    const body = '{"type":"seat_taken","seat":3,"note":"café ☕"}';

    // Act: the same post through the client, then replayed.
    await gateway.postToConnection(connectionId, bytes(body), deadline());
    const fromClient = lastPostTo(connectionId);
    await send.postToConnection(connectionId, bytes(body), deadline());
    const replayed = lastPostTo(connectionId);
    expect(send.replayed).toBe(1);

    // Assess: the same headers in the same order, the same values but for the request's time,
    // its signature and its invocation id; the same path and body; both signatures valid.
    expect(replayed).not.toBe(fromClient);
    const varying = ['x-amz-date', 'authorization', 'amz-sdk-invocation-id'];
    const stable = (post: ReceivedPost) =>
      pairs(post).map(([name, value]) =>
        varying.includes((name as string).toLowerCase()) ? [name] : [name, value],
      );
    expect(stable(replayed)).toEqual(stable(fromClient));
    expect(header(replayed, 'x-amz-security-token')).toBe(CREDENTIALS.AWS_SESSION_TOKEN);
    expect(replayed.path).toBe(fromClient.path);
    expect(replayed.body).toBe(body);
    expect(header(replayed, 'x-amz-content-sha256')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
    const credentialAndHeaders = (post: ReceivedPost) =>
      (header(post, 'authorization') as string).replace(/Signature=[0-9a-f]{64}$/, '');
    expect(credentialAndHeaders(replayed)).toBe(credentialAndHeaders(fromClient));
    expect(header(replayed, 'authorization')).toBe(await expectedAuthorization(replayed));
    expect(header(fromClient, 'authorization')).toBe(await expectedAuthorization(fromClient));
  });

  it('each carry their own invocation id and content length', async () => {
    // Prepare
    const send = gateway.forSend();
    await send.postToConnection('first-post=', bytes('{}'), deadline());

    // Act
    await send.postToConnection('c1=', bytes('{"a":1}'), deadline());
    await send.postToConnection('c2=', bytes('{"a":"a longer bödy"}'), deadline());

    // Assess
    expect(send.replayed).toBe(2);
    const [one, two] = [lastPostTo('c1='), lastPostTo('c2=')];
    expect(header(one, 'content-length')).toBe('7');
    expect(header(two, 'content-length')).toBe('22');
    const ids = api.posts.map((post) => header(post, 'amz-sdk-invocation-id'));
    expect(new Set(ids).size).toBe(api.posts.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
  });

  it("on Lambda, carry the trace header of the send's own invocation", async () => {
    // Prepare
    useEnv({ AWS_LAMBDA_FUNCTION_NAME: 'send', _X_AMZN_TRACE_ID: 'Root=1-aaaaaaaa-first' });
    try {
      const first = gateway.forSend();
      await first.postToConnection('t0=', bytes('{}'), deadline());
      await first.postToConnection('t1=', bytes('{}'), deadline());
      useEnv({ _X_AMZN_TRACE_ID: 'Root=1-bbbbbbbb-second' });

      // Act: the next invocation's send.
      const second = gateway.forSend();
      await second.postToConnection('t2=', bytes('{}'), deadline());
      await second.postToConnection('t3=', bytes('{}'), deadline());

      // Assess
      expect([first.replayed, second.replayed]).toEqual([1, 1]);
      const traces = ['t0=', 't1=', 't2=', 't3='].map((id) =>
        header(lastPostTo(id), 'x-amzn-trace-id'),
      );
      expect(traces).toEqual([
        'Root=1-aaaaaaaa-first',
        'Root=1-aaaaaaaa-first',
        'Root=1-bbbbbbbb-second',
        'Root=1-bbbbbbbb-second',
      ]);
    } finally {
      useEnv({ AWS_LAMBDA_FUNCTION_NAME: undefined, _X_AMZN_TRACE_ID: undefined });
    }
  });

  it.each<[PostBehaviour, string, boolean]>([
    ['gone', 'ConnectionGoneError', false],
    ['throttle', 'PostFailedError', true],
    ['server-error', 'PostFailedError', true],
    ['forbidden', 'PostFailedError', false],
    ['reset', 'PostFailedError', true],
    ['hang', 'PostFailedError', false],
  ])('fail as the client fails: %s', async (behaviour, errorName, retryable) => {
    // Prepare
    const send = gateway.forSend();
    await send.postToConnection('first-post=', bytes('{}'), deadline());
    api.script('failing=', behaviour);
    const failure = async (post: () => Promise<void>) => {
      try {
        await post();
      } catch (error) {
        return error as Error;
      }
      throw new Error('the post succeeded');
    };
    const signal = () => AbortSignal.timeout(300);

    // Act
    const fromClient = await failure(() =>
      gateway.postToConnection('failing=', bytes('{}'), signal()),
    );
    const replayed = await failure(() => send.postToConnection('failing=', bytes('{}'), signal()));

    // Assess
    expect(send.replayed).toBe(1);
    expect(replayed.name).toBe(errorName);
    expect(fromClient.name).toBe(errorName);
    if (replayed instanceof PostFailedError && fromClient instanceof PostFailedError) {
      expect([replayed.retryable, fromClient.retryable]).toEqual([retryable, retryable]);
      expect(replayed.message).toBe(fromClient.message);
    } else {
      expect(replayed).toBeInstanceOf(ConnectionGoneError);
      expect(fromClient).toBeInstanceOf(ConnectionGoneError);
    }
  });
});
