import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

const HANDLERS_DIR = fileURLToPath(new URL('../lambdas/', import.meta.url));
const LOCK_FILE = fileURLToPath(new URL('../package-lock.json', import.meta.url));

/** What {@link RealtimeHandler} builds one function from. */
export interface RealtimeHandlerProps {
  /** The handler module, relative to `lambdas/`. */
  entry: string;
  description: string;
  timeoutSeconds: number;
  memorySizeMiB: number;
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
  baseEnvironment: Record<string, string>;
  environment: Record<string, string>;
  statements?: iam.PolicyStatement[];
  /** Reserved concurrency (a guarantee and a cap at once); unset, the account's shared pool. */
  reservedConcurrency?: number;
  /** esbuild `define`s on top of {@link HANDLER_BUNDLING}. */
  define?: Record<string, string>;
}

/**
 * One function with its own role and log group. The role holds only what the function uses:
 * writing to its log group (no AWSLambdaBasicExecutionRole, whose log grant is account-wide)
 * and the statements given. Its children's ids (`Function`, `Role`, `Logs`) are part of the
 * contract: renaming one replaces the resource.
 *
 * @example
 * const fn = new RealtimeHandler(this, 'DefaultHandler', { entry: 'default.ts', description: '…',
 *   timeoutSeconds: 10, memorySizeMiB: 256, logRetention: RetentionDays.ONE_MONTH,
 *   logRemovalPolicy: RemovalPolicy.RETAIN, baseEnvironment: {}, environment: {} });
 */
export class RealtimeHandler extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: RealtimeHandlerProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    logGroup.grantWrite(this.role);
    for (const statement of props.statements ?? []) this.role.addToPrincipalPolicy(statement);

    this.function = new NodejsFunction(this, 'Function', {
      entry: `${HANDLERS_DIR}${props.entry}`,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySizeMiB,
      timeout: Duration.seconds(props.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup,
      environment: { ...props.baseEnvironment, ...props.environment },
      depsLockFilePath: LOCK_FILE,
      bundling: props.define ? { ...HANDLER_BUNDLING, define: props.define } : HANDLER_BUNDLING,
    });
  }
}

/**
 * Local esbuild (no Docker), run as the installed binary: `patches/aws-cdk-lib+2.276.0.patch`
 * (applied by `patch-package` on install) keeps CDK from starting it through
 * `npx --no-install`, whose start-up costs about as much CPU as esbuild's bundling of a
 * function (the same change is proposed upstream: aws/aws-cdk#37380).
 *
 * ESM, as the project is; AWS SDK v3 bundled rather than taken from the runtime
 * (`externalModules: []`), so the code runs against the SDK version it was
 * tested with, tree-shaken. The metafile (`index.meta.json` in each asset) records the
 * bundle's composition.
 *
 * No `createRequire` banner: with `mainFields: ['module', 'main']` every dependency resolves
 * to its ES module build, the bundles contain no `require` call, and they load with
 * `node --input-type=module` (test/infra asserts both). Add the banner if a CommonJS-only
 * dependency ever needs a Node built-in through `require`.
 *
 * Exported so the benchmark (`bench/bundles.ts`) builds its baseline bundles the same way.
 */
export const HANDLER_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: false,
  mainFields: ['module', 'main'],
  externalModules: [],
  metafile: true,
};

/**
 * The global that `lambdas/runtime/token-verifier.ts` reads to know whether the Secrets Manager
 * client was bundled; defined `false` for an authorizer without an HS256 secret.
 */
export const SECRETS_MANAGER_BUILD_FLAG = 'TRIPSYNC_BUNDLE_SECRETS_MANAGER';

/**
 * The global that `lambdas/runtime/presence-publisher.ts` reads to know whether the EventBridge
 * client was bundled; defined `false` for connect and disconnect without presence events.
 */
export const EVENTBRIDGE_BUILD_FLAG = 'TRIPSYNC_BUNDLE_EVENTBRIDGE';
