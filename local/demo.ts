import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ValidationError } from '../lambdas/core/errors';
import { sendJson } from './http';
import { signLocalToken } from './tokens';

const PAGE = fileURLToPath(new URL('./demo/index.html', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./demo/page.ts', import.meta.url));

/** The local-only token endpoint: `GET /local/token?user=<id>`. Never part of the CDK app. */
export const LOCAL_TOKEN_PATH = '/local/token';

/** What the demo needs from the stack. */
export interface DemoDeps {
  /** The HS256 secret the stack's authorizer verifies with. */
  jwtSecret: string;
}

/**
 * The demo page of the local stack, for a person to watch protocol v2 at work: `/` (or
 * `/?user=<id>`) serves the page, `/demo.js` its script (the client library and the page,
 * bundled with esbuild on the first request, kept in memory, never written to disk), and
 * `/local/token?user=<id>` signs a token with the stack's secret. Returns false for any other
 * path. The page sends through the stack's Lambda Invoke API and drops its connection with the
 * Management API's DELETE, on the same origin.
 *
 * @example
 * if (await serveDemo(req, res, url, { jwtSecret })) return;
 */
export async function serveDemo(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: DemoDeps,
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  switch (url.pathname) {
    case '/':
      send(res, 'text/html; charset=utf-8', await readFile(PAGE));
      return true;
    case '/demo.js':
      send(res, 'text/javascript; charset=utf-8', await demoScript());
      return true;
    case LOCAL_TOKEN_PATH: {
      try {
        const token = await signLocalToken(url.searchParams.get('user') ?? '', {
          secret: deps.jwtSecret,
        });
        send(res, 'text/plain; charset=utf-8', Buffer.from(token));
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        sendJson(res, 400, { message: `user query parameter: ${error.message}` });
      }
      return true;
    }
    default:
      return false;
  }
}

let script: Promise<Uint8Array> | undefined;

/** The page's script with the client library, bundled once per process. */
function demoScript(): Promise<Uint8Array> {
  script ??= build({
    entryPoints: [SCRIPT],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    write: false,
    legalComments: 'none',
  }).then((result) => {
    const [output] = result.outputFiles;
    if (!output) throw new Error('esbuild wrote no demo script');
    return output.contents;
  });
  // A failed build is reported, and tried again on the next request.
  script.catch(() => {
    script = undefined;
  });
  return script;
}

function send(res: ServerResponse, contentType: string, body: Uint8Array): void {
  res.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': body.byteLength,
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
