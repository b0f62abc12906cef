import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';

/** The inputs esbuild put in one function's bundle, and how the handler's code reaches them. */
function bundleOf(synth: SynthesizedStack, name: 'connect' | 'disconnect' | 'sendQueue') {
  const id = logicalId(synth.stack.realtime.functions[name]);
  const key: string = synth.template.toJSON().Resources[id].Properties.Code.S3Key;
  const dir = join(synth.app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
  const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8'));
  const [output] = Object.values(meta.outputs) as { inputs: object }[];
  const dynamic = Object.values(
    meta.inputs as Record<string, { imports: { path: string; kind: string }[] }>,
  )
    .flatMap((input) => input.imports)
    .filter((i) => i.kind === 'dynamic-import')
    .map((i) => i.path);
  return { inputs: Object.keys(output?.inputs ?? {}), dynamic };
}

const carries = (inputs: string[], pkg: string) =>
  inputs.some((i) => i.includes(`node_modules/@aws-sdk/${pkg}/`));

// Bundled for real: the point is what esbuild leaves out.
let off: SynthesizedStack;
let on: SynthesizedStack;

beforeAll(() => {
  off = synthesizeStack();
  on = synthesizeStack({ presenceEvents: true });
});

describe('the EventBridge client is bundled only where presence events can be put', () => {
  it.each(['connect', 'disconnect'] as const)('%s without presence events: no client', (name) => {
    expect(carries(bundleOf(off, name).inputs, 'client-eventbridge')).toBe(false);
  });

  it.each(['connect', 'disconnect'] as const)(
    '%s with presence events: the client, imported on the first event',
    (name) => {
      // Act
      const { inputs, dynamic } = bundleOf(on, name);

      // Assess
      expect(carries(inputs, 'client-eventbridge')).toBe(true);
      expect(dynamic.some((path) => path.includes('@aws-sdk/client-eventbridge'))).toBe(true);
    },
  );
});

describe('the queue consumer', () => {
  it('imports its SQS client on the first bad payload, not at cold start', () => {
    // Act
    const { inputs, dynamic } = bundleOf(off, 'sendQueue');

    // Assess
    expect(carries(inputs, 'client-sqs')).toBe(true);
    expect(dynamic.some((path) => path.includes('@aws-sdk/client-sqs'))).toBe(true);
  });
});
