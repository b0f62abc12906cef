import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BundleInfo, readBundle } from '../../bench/bundles';
import type { FunctionName } from '../../lambdas/manifest';
import { logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';

// What esbuild puts in each function's bundle, bundled for real: the point is what it leaves
// out. One file for every bundle test, so that the three configurations share one cloud
// assembly folder and each bundle is built once (see synthesizeStack).

const JWKS = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** One function's bundle as CDK built it, read as the benchmark reads it. */
function bundleOf(synth: SynthesizedStack, name: FunctionName): BundleInfo {
  const id = logicalId(synth.stack.realtime.functions[name]);
  const key: string = synth.template.toJSON().Resources[id].Properties.Code.S3Key;
  return readBundle(name, join(synth.app.outdir, `asset.${key.replace(/\.zip$/, '')}`));
}

/** Whether any file of the package went into the bundle (tree-shaken to nothing or not). */
const carries = (bundle: BundleInfo, pkg: string) =>
  bundle.packages.some((p) => p.name === `@aws-sdk/${pkg}`);

/** Whether the handler's code imports the SDK client dynamically (on its first use). */
const importsLater = (bundle: BundleInfo, pkg: string) =>
  bundle.sdkClients.some((c) => c.name === pkg && c.dynamicImport);

/** The defaults: an HS256 secret, no presence events. */
let defaults: SynthesizedStack;
let jwksOnly: SynthesizedStack;
let presenceEvents: SynthesizedStack;

beforeAll(() => {
  defaults = synthesizeStack();
  jwksOnly = synthesizeStack(JWKS);
  presenceEvents = synthesizeStack({ presenceEvents: true });
});

describe('the authorizer bundle carries only the SDK client it can use', () => {
  it('with an HS256 secret, it bundles the Secrets Manager client that reads it', () => {
    // Act
    const bundle = bundleOf(defaults, 'authorizer');

    // Assess
    expect(carries(bundle, 'client-secrets-manager')).toBe(true);
  });

  it('with JWKS only, it carries no AWS SDK code and stays under 100 KB', () => {
    // Act
    const { bytes, packages } = bundleOf(jwksOnly, 'authorizer');

    // Assess
    expect(packages.filter((p) => /^@(aws-sdk|smithy)\//.test(p.name))).toEqual([]);
    expect(bytes).toBeLessThan(100 * 1024);
  });
});

describe('the EventBridge client is bundled only where presence events can be put', () => {
  it.each(['connect', 'disconnect'] as const)('%s without presence events: no client', (name) => {
    expect(carries(bundleOf(defaults, name), 'client-eventbridge')).toBe(false);
  });

  it.each(['connect', 'disconnect'] as const)(
    '%s with presence events: the client, imported on the first event',
    (name) => {
      // Act
      const bundle = bundleOf(presenceEvents, name);

      // Assess
      expect(carries(bundle, 'client-eventbridge')).toBe(true);
      expect(importsLater(bundle, 'client-eventbridge')).toBe(true);
    },
  );
});

describe('the queue consumer', () => {
  it('imports its SQS client on the first bad payload, not at cold start', () => {
    // Act
    const bundle = bundleOf(defaults, 'sendQueue');

    // Assess
    expect(carries(bundle, 'client-sqs')).toBe(true);
    expect(importsLater(bundle, 'client-sqs')).toBe(true);
  });
});

describe('how CDK runs esbuild', () => {
  it('runs the installed esbuild binary itself, not through `npx --no-install`', () => {
    // patches/aws-cdk-lib+*.patch: npx's start-up costs about as much CPU as esbuild's
    // bundling of a function, on every bundle of every `cdk synth` and `cdk deploy`. The class
    // is CDK's own (not exported), reached by its file.
    const require = createRequire(import.meta.url);
    const cdkRoot = dirname(require.resolve('aws-cdk-lib/package.json'));
    const { PackageManager } = require(join(cdkRoot, 'aws-lambda-nodejs/lib/package-manager.js'));

    // Act
    const npm = PackageManager.fromLockFile(join(REPO_ROOT, 'package-lock.json'));

    // Assess
    expect(npm.runBinCommand('esbuild')).toEqual([
      join(REPO_ROOT, 'node_modules/esbuild/bin/esbuild'),
    ]);
  });
});
