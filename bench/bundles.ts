import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { FUNCTION_NAMES, type FunctionName, functionSpec } from '../lambdas/manifest';
import { HANDLER_BUNDLING } from '../lib/realtime-function';
import { TripSyncRealtimeStack } from '../lib/tripsync-realtime-stack';

/** The JWKS settings of the JWKS-only variant (any valid values: only the bundle is read). */
const JWKS_ONLY = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};

/** Cold-start baselines, bundled the same way from `bench/baselines/`. */
export const BASELINES = {
  empty: { entry: 'empty.ts', label: 'empty module' },
  dynamodb: { entry: 'dynamodb.ts', label: 'bare DynamoDB DocumentClient' },
  dynamodbManagementApi: {
    entry: 'dynamodb-management-api.ts',
    label: 'bare DocumentClient + Management API client',
  },
  sendClients: {
    entry: 'send-clients.ts',
    label: 'bare DocumentClient + Management API + Lambda clients',
  },
  dynamodbManagementApiSqs: {
    entry: 'dynamodb-management-api-sqs.ts',
    label: 'bare DocumentClient + Management API + SQS clients',
  },
  secretsManager: { entry: 'secrets-manager.ts', label: 'bare Secrets Manager client' },
  logger: { entry: 'logger.ts', label: 'bare Powertools Logger' },
  loggerMetrics: { entry: 'logger-metrics.ts', label: 'bare Powertools Logger + Metrics' },
} as const;
export type BaselineName = keyof typeof BASELINES;

/** One bundle the benchmark measures: a function of `lambdas/manifest.ts`, as one deployment builds it. */
export interface BenchedHandler {
  /** `send`, or `authorizerJwks` for a token verifier deployed with JWKS only. */
  name: string;
  function: FunctionName;
  /** Built by a JWKS-only deployment (no HS256 secret, so no Secrets Manager client). */
  jwksOnly: boolean;
  /** How the tables name it. */
  label: string;
  /** Verifies tokens (its bundle target differs: no SDK client at all without a secret). */
  verifiesTokens: boolean;
  /** The SDK clients its needs call for, and so the baseline its cold start is compared with. */
  clients: string[];
  baseline: BaselineName;
}

/**
 * The SDK clients a function's needs call for: the tables through DynamoDB, posts through the
 * Management API, its own shards through Lambda, the HS256 secret through Secrets Manager (read
 * once per container, when `JWT_SECRET_ARN` is set, as in the default deployment), the
 * dead-letter queue through SQS. Presence events are off in the default deployment: their
 * EventBridge client must not be in the bundle.
 */
function clientsFor(name: FunctionName, jwksOnly: boolean): string[] {
  const { needs } = functionSpec(name);
  return [
    ...(needs.connectionTable || needs.messageLog ? ['client-dynamodb'] : []),
    ...(needs.managementApi ? ['client-apigatewaymanagementapi'] : []),
    ...(needs.invokesItself ? ['client-lambda'] : []),
    ...(needs.jwtSecret && !jwksOnly ? ['client-secrets-manager'] : []),
    ...(needs.deadLetterQueue ? ['client-sqs'] : []),
  ];
}

/** The baseline bundling exactly these clients. */
function baselineFor(clients: string[]): BaselineName {
  const key = [...clients].sort().join('+');
  const byClients: Record<string, BaselineName> = {
    '': 'empty',
    'client-dynamodb': 'dynamodb',
    'client-apigatewaymanagementapi+client-dynamodb': 'dynamodbManagementApi',
    'client-apigatewaymanagementapi+client-dynamodb+client-lambda': 'sendClients',
    'client-apigatewaymanagementapi+client-dynamodb+client-sqs': 'dynamodbManagementApiSqs',
    'client-secrets-manager': 'secretsManager',
  };
  const baseline = byClients[key];
  if (baseline === undefined) {
    throw new Error(`no baseline bundles exactly ${key}: add one to bench/baselines and BASELINES`);
  }
  return baseline;
}

/**
 * Every function of the manifest, and each token verifier a second time as a JWKS-only
 * deployment builds it (`authorizerJwks`).
 */
export const BENCHED_HANDLERS: BenchedHandler[] = FUNCTION_NAMES.flatMap((name) => {
  const verifiesTokens = functionSpec(name).needs.jwtSecret === true;
  const variants = verifiesTokens ? [false, true] : [false];
  return variants.map((jwksOnly) => {
    const clients = clientsFor(name, jwksOnly);
    return {
      name: jwksOnly ? `${name}Jwks` : name,
      function: name,
      jwksOnly,
      label: verifiesTokens ? `${name} (${jwksOnly ? 'JWKS only' : 'HS256 secret'})` : name,
      verifiesTokens,
      clients,
      baseline: baselineFor(clients),
    };
  });
});

/** The bundles' names: `authorizer`, `authorizerJwks`, `connect`, … */
export const HANDLER_NAMES = BENCHED_HANDLERS.map((h) => h.name);
export type HandlerName = string;

/** A benched bundle by name. */
export function benchedHandler(name: HandlerName): BenchedHandler {
  const handler = BENCHED_HANDLERS.find((h) => h.name === name);
  if (!handler) throw new Error(`no benched handler ${name}`);
  return handler;
}

/** One bundle as CDK built it: `index.mjs` and what its esbuild metafile says about it. */
export interface BundleInfo {
  name: string;
  /** The bundle file (`<asset>/index.mjs`). */
  file: string;
  bytes: number;
  /** Bytes in the output by npm package (`app` for the project's own code), largest first. */
  packages: Array<{ name: string; bytes: number }>;
  /** The largest input files, by bytes in the output. */
  largestInputs: Array<{ path: string; bytes: number }>;
  /** `@aws-sdk/client-*` packages in the bundle, with how the handler's code reaches them. */
  sdkClients: Array<{ name: string; bytes: number; dynamicImport: boolean }>;
}

/** Every bundle of one synthesis, and a way to delete them. */
export interface Bundles {
  handlers: Record<HandlerName, BundleInfo>;
  baselines: Record<BaselineName, BundleInfo>;
  /** How long `app.synth()` took, bundling included. */
  synthMs: number;
  cleanup(): void;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCK_FILE = join(REPO_ROOT, 'package-lock.json');
const BASELINES_DIR = join(REPO_ROOT, 'bench', 'baselines');

/**
 * Synthesizes the deployable stack into a temporary cloud assembly, which bundles every
 * handler of the manifest exactly as `cdk deploy` would (NodejsFunction, local esbuild, the construct's own
 * options), and a second stack of baseline functions with the same runtime, architecture and
 * bundling options. Reads each asset's `index.mjs` and `index.meta.json`.
 *
 * @example
 * const bundles = synthesizeBundles();
 * console.log(bundles.handlers.send.bytes);
 * bundles.cleanup();
 */
export function synthesizeBundles(): Bundles {
  const outdir = mkdtempSync(join(tmpdir(), 'tripsync-bench-cdk-'));
  const cleanup = () => rmSync(outdir, { recursive: true, force: true });
  try {
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const product = new TripSyncRealtimeStack(app, 'BenchRealtime');
    const jwksOnly = new TripSyncRealtimeStack(app, 'BenchRealtimeJwks', JWKS_ONLY);
    const reference = product.realtime.functions.send;
    const baselineStack = new Stack(app, 'BenchBaselines');
    const baselineFunctions = Object.fromEntries(
      Object.entries(BASELINES).map(([name, { entry }]) => [
        name,
        new NodejsFunction(baselineStack, `Baseline-${name}`, {
          entry: join(BASELINES_DIR, entry),
          runtime: reference.runtime,
          architecture: reference.architecture,
          depsLockFilePath: LOCK_FILE,
          bundling: HANDLER_BUNDLING,
        }),
      ]),
    ) as Record<BaselineName, NodejsFunction>;

    const started = performance.now();
    const assembly = app.synth();
    const synthMs = performance.now() - started;

    const read = (fn: NodejsFunction, name: string): BundleInfo => {
      const stack = Stack.of(fn);
      const template = assembly.getStackByName(stack.stackName).template as {
        Resources: Record<string, { Properties: { Code: { S3Key: string } } }>;
      };
      const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
      const key = template.Resources[logicalId]?.Properties.Code.S3Key;
      if (key === undefined) throw new Error(`no asset for ${name} (${logicalId})`);
      return readBundle(name, join(outdir, `asset.${key.replace(/\.zip$/, '')}`));
    };
    const handlers = Object.fromEntries(
      BENCHED_HANDLERS.map((h) => [
        h.name,
        read((h.jwksOnly ? jwksOnly : product).realtime.functions[h.function], h.name),
      ]),
    ) as Record<HandlerName, BundleInfo>;
    const baselines = Object.fromEntries(
      Object.entries(baselineFunctions).map(([name, fn]) => [name, read(fn, name)]),
    ) as Record<BaselineName, BundleInfo>;
    return { handlers, baselines, synthMs, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

interface Metafile {
  inputs: Record<string, { imports: Array<{ path: string; kind: string }> }>;
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/**
 * Reads one asset directory: the bundle's size and its composition from the metafile.
 *
 * @example
 * readBundle('send', '/tmp/cdk.out/asset.0123abcd');
 */
export function readBundle(name: string, dir: string): BundleInfo {
  const file = join(dir, 'index.mjs');
  const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8')) as Metafile;
  const output = Object.values(meta.outputs)[0];
  if (!output) throw new Error(`${dir}/index.meta.json lists no output`);
  const inputs = Object.entries(output.inputs).map(([path, { bytesInOutput }]) => ({
    path,
    bytes: bytesInOutput,
  }));
  const packages = new Map<string, number>();
  for (const input of inputs) {
    const name = packageOf(input.path);
    packages.set(name, (packages.get(name) ?? 0) + input.bytes);
  }
  const dynamicallyImported = new Set(
    Object.values(meta.inputs)
      .flatMap((input) => input.imports)
      .filter((i) => i.kind === 'dynamic-import')
      .map((i) => packageOf(i.path)),
  );
  const byBytes = <T extends { bytes: number }>(a: T, b: T) => b.bytes - a.bytes;
  const packageList = [...packages].map(([pkg, bytes]) => ({ name: pkg, bytes })).sort(byBytes);
  return {
    name,
    file,
    bytes: statSync(file).size,
    packages: packageList,
    largestInputs: inputs.sort(byBytes).slice(0, 10),
    sdkClients: packageList
      .filter((p) => p.name.startsWith('@aws-sdk/client-') && p.bytes > 0)
      .map((p) => ({
        name: p.name.slice('@aws-sdk/'.length),
        bytes: p.bytes,
        dynamicImport: dynamicallyImported.has(p.name),
      })),
  };
}

/** `node_modules/@smithy/core/dist-es/x.js` → `@smithy/core`; project files → `app`. */
function packageOf(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at === -1) return 'app';
  const parts = path.slice(at + 'node_modules/'.length).split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
}
