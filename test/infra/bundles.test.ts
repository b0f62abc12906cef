import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
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

/**
 * One function's bundle as CDK built it: its size, the files esbuild put in it, and the modules
 * the handler's code imports dynamically (on first use rather than at cold start).
 */
function bundleOf(synth: SynthesizedStack, name: FunctionName) {
  const id = logicalId(synth.stack.realtime.functions[name]);
  const key: string = synth.template.toJSON().Resources[id].Properties.Code.S3Key;
  const dir = join(synth.app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
  const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8'));
  const [output] = Object.values(meta.outputs) as { bytes: number; inputs: object }[];
  const dynamic = Object.values(
    meta.inputs as Record<string, { imports: { path: string; kind: string }[] }>,
  )
    .flatMap((input) => input.imports)
    .filter((i) => i.kind === 'dynamic-import')
    .map((i) => i.path);
  return { bytes: output?.bytes ?? 0, inputs: Object.keys(output?.inputs ?? {}), dynamic };
}

const carries = (inputs: string[], pkg: string) =>
  inputs.some((i) => i.includes(`node_modules/@aws-sdk/${pkg}/`));

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
    const { inputs } = bundleOf(defaults, 'authorizer');

    // Assess
    expect(carries(inputs, 'client-secrets-manager')).toBe(true);
  });

  it('with JWKS only, it carries no AWS SDK code and stays under 100 KB', () => {
    // Act
    const { bytes, inputs } = bundleOf(jwksOnly, 'authorizer');

    // Assess
    expect(inputs.filter((i) => /node_modules\/@(aws-sdk|smithy)\//.test(i))).toEqual([]);
    expect(bytes).toBeLessThan(100 * 1024);
  });
});

describe('the EventBridge client is bundled only where presence events can be put', () => {
  it.each(['connect', 'disconnect'] as const)('%s without presence events: no client', (name) => {
    expect(carries(bundleOf(defaults, name).inputs, 'client-eventbridge')).toBe(false);
  });

  it.each(['connect', 'disconnect'] as const)(
    '%s with presence events: the client, imported on the first event',
    (name) => {
      // Act
      const { inputs, dynamic } = bundleOf(presenceEvents, name);

      // Assess
      expect(carries(inputs, 'client-eventbridge')).toBe(true);
      expect(dynamic.some((path) => path.includes('@aws-sdk/client-eventbridge'))).toBe(true);
    },
  );
});

describe('the queue consumer', () => {
  it('imports its SQS client on the first bad payload, not at cold start', () => {
    // Act
    const { inputs, dynamic } = bundleOf(defaults, 'sendQueue');

    // Assess
    expect(carries(inputs, 'client-sqs')).toBe(true);
    expect(dynamic.some((path) => path.includes('@aws-sdk/client-sqs'))).toBe(true);
  });
});
