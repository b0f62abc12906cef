import { randomUUID } from 'node:crypto';
import type {
  ApiGatewayManagementApiClient,
  ServiceInputTypes,
  ServiceOutputTypes,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { getSmithyContext, isIdentityExpired } from '@smithy/core';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import type { FinalizeRequestMiddleware, HttpResponse, HttpSigner, Identity } from '@smithy/types';

/**
 * The request a Management API client built for one `PostToConnection`, taken just before it
 * was signed, and how the client signed it. A fan-out sends the same request thousands of
 * times with another connection id and body: replaying this one (`replay`) gives every post
 * the same headers the client would have given it, without running the client's middleware
 * (serialisation, endpoint and auth-scheme resolution, user agent, retry bookkeeping), which
 * costs several times the signing and the HTTP request themselves (`npm run bench`).
 *
 * Per post only what the client varies per request is set again: the path's connection id,
 * the body and its `content-length`, `amz-sdk-invocation-id`; then it is signed by the
 * client's own signer and sent by the client's own request handler. A client that built a
 * request any other way (no such headers, a path that does not end with the id) gives no
 * template, and its posts keep going through the client. Trace headers
 * (`X-Amzn-Trace-Id` on Lambda) belong to the invocation, which is why a template serves one
 * send only (`ManagementApiGateway.forSend`).
 */
export interface PostTemplate {
  /** The request without its connection id and body. */
  request: HttpRequest;
  /** The names, as the client spelled them, of the headers set afresh per post. */
  lengthHeader: string;
  invocationIdHeader: string;
  /** The path up to the connection id, e.g. `/live/@connections/`. */
  pathPrefix: string;
  signer: HttpSigner;
  identity: Identity;
  signingProperties: Record<string, unknown>;
}

/** Where a post's client request is reported, keyed by the command's input object. */
const captures = new WeakMap<object, (template: PostTemplate | undefined) => void>();

/**
 * Adds the middleware that records templates, just before the client signs. A command whose
 * input was registered with `recordTemplate` reports its request there; others pass through.
 *
 * @example
 * const client = new ApiGatewayManagementApiClient({ endpoint, maxAttempts: 1 });
 * recordPostTemplates(client);
 */
export function recordPostTemplates(client: ApiGatewayManagementApiClient): void {
  const record: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next, context) => async (args) => {
      const report = captures.get(args.input);
      if (report && HttpRequest.isInstance(args.request)) {
        captures.delete(args.input);
        report(templateOf(args.request, args.input as PostInput, getSmithyContext(context)));
      }
      return next(args);
    };
  client.middlewareStack.addRelativeTo(record, {
    name: 'recordPostTemplate',
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    override: true,
  });
}

/** A `PostToConnection` input. */
export interface PostInput {
  ConnectionId: string;
  Data: Uint8Array;
}

/**
 * Asks the middleware of `recordPostTemplates` to report the request the client builds for
 * `input` (undefined if it cannot serve as a template).
 *
 * @example
 * const input = { ConnectionId: id, Data: data };
 * recordTemplate(input, (template) => { saved = template; });
 * await client.send(new PostToConnectionCommand(input));
 */
export function recordTemplate(
  input: PostInput,
  report: (template: PostTemplate | undefined) => void,
): void {
  captures.set(input, report);
}

function templateOf(
  request: HttpRequest,
  input: PostInput,
  smithyContext: Record<string, unknown>,
): PostTemplate | undefined {
  const scheme = smithyContext.selectedHttpAuthScheme as
    | {
        signer?: HttpSigner;
        identity?: Identity;
        httpAuthOption?: { signingProperties?: Record<string, unknown> };
      }
    | undefined;
  const encodedId = extendedEncodeURIComponent(input.ConnectionId);
  // The headers the client sets afresh on every request; the rest are the same for every post.
  const names = Object.keys(request.headers);
  const lengthHeader = names.find((name) => name.toLowerCase() === 'content-length');
  const invocationIdHeader = names.find((name) => name.toLowerCase() === 'amz-sdk-invocation-id');
  if (
    !scheme?.signer ||
    !scheme.identity ||
    !request.path.endsWith(encodedId) ||
    lengthHeader === undefined ||
    invocationIdHeader === undefined
  ) {
    return undefined;
  }
  return {
    // The headers keep their order: each post's values replace the recorded ones in place.
    request: new HttpRequest({ ...request, headers: { ...request.headers }, body: undefined }),
    lengthHeader,
    invocationIdHeader,
    pathPrefix: request.path.slice(0, request.path.length - encodedId.length),
    signer: scheme.signer,
    identity: scheme.identity,
    signingProperties: scheme.httpAuthOption?.signingProperties ?? {},
  };
}

/** True while the template's credentials are not about to expire (5 minutes ahead). */
export function templateUsable(template: PostTemplate): boolean {
  return !isIdentityExpired(template.identity);
}

/** What a replayed post's HTTP request handler must offer (the client's `requestHandler`). */
export interface PostRequestHandler {
  handle(
    request: HttpRequest,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ response: HttpResponse }>;
}

/**
 * Sends one post from the template: resolves on a 2xx answer, rejects with an error shaped as
 * the client's would be (`name` from `x-amzn-ErrorType`, `$metadata.httpStatusCode`, `$fault`),
 * or with the request handler's own error (a reset, a timeout, an abort).
 *
 * @example
 * await replay(template, client.config.requestHandler, 'BFaT_fALIAMCKug=', bytes, signal);
 */
export async function replay(
  template: PostTemplate,
  handler: PostRequestHandler,
  connectionId: string,
  data: Uint8Array,
  signal: AbortSignal,
): Promise<void> {
  const headers = { ...template.request.headers };
  headers[template.lengthHeader] = String(data.byteLength);
  headers[template.invocationIdHeader] = randomUUID();
  const request = new HttpRequest({
    ...template.request,
    path: template.pathPrefix + extendedEncodeURIComponent(connectionId),
    headers,
    body: data,
  });
  const { signer, identity, signingProperties } = template;
  const signed = await signer.sign(request, identity, signingProperties);
  const { response } = await handler.handle(signed as HttpRequest, { abortSignal: signal });
  if (response.statusCode >= 200 && response.statusCode < 300) {
    (response.body as NodeJS.ReadableStream | undefined)?.resume();
    signer.successHandler?.(response, signingProperties);
    return;
  }
  const error = await serviceError(response);
  // The client's signer corrects its clock from a signature-expired answer, as after a send.
  if (signer.errorHandler) signer.errorHandler(signingProperties)(error);
  throw error;
}

/** An error answer as the client's deserializer would report it. */
async function serviceError(response: HttpResponse): Promise<Error> {
  const text = await readBody(response.body as NodeJS.ReadableStream | undefined);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's HTML page): the status says enough.
  }
  const header = headerValue(response.headers, 'x-amzn-errortype');
  // `x-amzn-ErrorType` may carry a namespace (`GoneException:http://internal.amazon.com/…`).
  const name =
    header?.split(':')[0]?.split(',')[0]?.trim() ||
    String(body.__type ?? body.code ?? '')
      .split('#')
      .pop() ||
    (response.statusCode >= 500 ? 'ServiceException' : `HTTP${response.statusCode}`);
  const message = String(body.message ?? body.Message ?? `HTTP ${response.statusCode}`);
  return Object.assign(new Error(message), {
    name,
    $fault: response.statusCode >= 500 ? 'server' : 'client',
    $metadata: {
      httpStatusCode: response.statusCode,
      requestId: headerValue(response.headers, 'x-amzn-requestid'),
    },
    $response: response,
  });
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

async function readBody(body: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}
