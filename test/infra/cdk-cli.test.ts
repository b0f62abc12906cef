import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, functionSpec } from '../../lambdas/manifest';
import { runCommand } from '../support/processes';

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const STACK = 'TripSyncRealtime';

/**
 * The environment of a machine with no AWS account: every AWS_* and CDK_DEFAULT_* variable
 * removed, and the shared config and credentials files pointed at paths that do not exist,
 * so nothing in ~/.aws can be used either.
 */
function offlineEnv(scratch: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('AWS_') && !name.startsWith('CDK_DEFAULT_'),
    ),
  );
  return {
    ...env,
    AWS_CONFIG_FILE: join(scratch, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-aws-credentials'),
    // The CLI's daily "newer version" lookup (it only runs on a TTY; made explicit here).
    CDK_DISABLE_VERSION_CHECK: '1',
  };
}

interface LambdaResource {
  Type: string;
  Properties: { Code: { S3Key: string }; Description: string; Runtime: string };
}

let scratch: string;
let outdir: string;
let result: { exitCode: number; stdout: string; stderr: string };
let template: { Resources: Record<string, LambdaResource> };

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tripsync-cli-'));
  outdir = join(scratch, 'cdk.out');
  // In a process group of its own: past the timeout, the CLI and the app it runs are killed.
  const { code, signal, stdout, stderr } = await runCommand(
    'npx',
    ['cdk', 'synth', '--quiet', '--output', outdir],
    { cwd: REPO_ROOT, env: offlineEnv(scratch), timeoutMs: 110_000 },
  );
  result = {
    exitCode: code ?? -1,
    stdout,
    stderr: signal ? `${stderr}\nkilled: ${signal}` : stderr,
  };
  const templatePath = join(outdir, `${STACK}.template.json`);
  if (existsSync(templatePath)) template = JSON.parse(readFileSync(templatePath, 'utf8'));
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The function bundles, each named by its function's description. */
function bundles(): { name: string; dir: string }[] {
  return Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => ({
      name: r.Properties.Description,
      dir: join(outdir, `asset.${r.Properties.Code.S3Key.replace(/\.zip$/, '')}`),
    }));
}

/** Whether the function with this description reaches AWS through an SDK client. */
function usesTheSdk(description: string): boolean {
  const name = FUNCTION_NAMES.find((n) => functionSpec(n).description === description);
  if (name === undefined) throw new Error(`no function of the manifest is ${description}`);
  const { needs } = functionSpec(name);
  // The default deployment has an HS256 secret: the token verifier reads it with the SDK.
  return Boolean(needs.connectionTable || needs.managementApi || needs.jwtSecret);
}

describe('npx cdk synth (offline, no AWS credentials)', () => {
  it('exits 0 and writes the template', () => {
    expect(result, result.stderr).toMatchObject({ exitCode: 0 });
    expect(existsSync(join(outdir, `${STACK}.template.json`))).toBe(true);
    expect(
      Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function'),
    ).toHaveLength(FUNCTION_NAMES.length);
  });

  it('reports no finding from cdk-nag or the CloudFormation validation', () => {
    // Act
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));

    // Assess
    expect(report.pluginReports).toEqual([]);
    expect(result.stderr).not.toMatch(/AwsSolutions-/);
  });

  it('bundles every function as one ESM file with its esbuild metafile', () => {
    for (const { name, dir } of bundles()) {
      expect(existsSync(join(dir, 'index.mjs')), name).toBe(true);
      expect(existsSync(join(dir, 'index.meta.json')), name).toBe(true);
    }
  });

  it('bundles the AWS SDK v3 clients rather than importing them from the runtime', () => {
    for (const { name, dir } of bundles()) {
      // Prepare
      const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8'));
      const inputs = Object.keys(meta.inputs);
      const [output] = Object.values(meta.outputs) as { imports: { path: string }[] }[];

      // Assess
      expect(
        output?.imports.filter((i) => i.path.startsWith('@aws-sdk/')),
        name,
      ).toEqual([]);
      if (usesTheSdk(name)) {
        expect(
          inputs.some((i) => i.includes('node_modules/@aws-sdk/')),
          name,
        ).toBe(true);
      }
    }
  });

  it('produces bundles that load as ES modules, with no CommonJS require shim', async () => {
    // Prepare: the settings each handler reads at import.
    const env = {
      ...process.env,
      AWS_REGION: 'eu-west-1',
      TABLE_NAME: 'Connections',
      MESSAGE_TABLE_NAME: 'MessageLog',
      CONNECTIONS_ENDPOINT: 'https://abc123.execute-api.eu-west-1.amazonaws.com/live',
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123',
      DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/notifications-dlq',
    };

    for (const { name, dir } of bundles()) {
      const file = join(dir, 'index.mjs');
      const url = pathToFileURL(file).href;

      // Act
      const { code, stdout, stderr } = await runCommand(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(url)}); console.log(typeof m.handler);`,
        ],
        { cwd: REPO_ROOT, env, timeoutMs: 30_000 },
      );

      // Assess
      expect(code, `${name}: ${stderr}`).toBe(0);
      expect(stdout.trim(), name).toBe('function');
      expect(readFileSync(file, 'utf8'), name).not.toContain('Dynamic require of');
    }
  });
});
