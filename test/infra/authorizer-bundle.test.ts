import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';

const JWKS = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};

/** The authorizer's bundle as CDK built it: its size and the files esbuild put in it. */
function authorizerBundle(synth: SynthesizedStack) {
  const id = logicalId(synth.stack.realtime.functions.authorizer);
  const key: string = synth.template.toJSON().Resources[id].Properties.Code.S3Key;
  const dir = join(synth.app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
  const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8'));
  const [output] = Object.values(meta.outputs) as { bytes: number; inputs: object }[];
  return { bytes: output?.bytes ?? 0, inputs: Object.keys(output?.inputs ?? {}) };
}

// Bundled for real: the point is what esbuild leaves out.
let hs256: SynthesizedStack;
let jwksOnly: SynthesizedStack;

beforeAll(() => {
  hs256 = synthesizeStack();
  jwksOnly = synthesizeStack(JWKS);
});

describe('the authorizer bundle carries only the SDK client it can use', () => {
  it('with an HS256 secret, it bundles the Secrets Manager client that reads it', () => {
    // Act
    const { inputs } = authorizerBundle(hs256);

    // Assess
    expect(inputs.some((i) => i.includes('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(
      true,
    );
  });

  it('with JWKS only, it carries no AWS SDK code and stays under 100 KB', () => {
    // Act
    const { bytes, inputs } = authorizerBundle(jwksOnly);

    // Assess
    expect(inputs.filter((i) => /node_modules\/@(aws-sdk|smithy)\//.test(i))).toEqual([]);
    expect(bytes).toBeLessThan(100 * 1024);
  });
});
