import { mkdirSync, rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

/**
 * Global setup of the tiers that synthesize CDK apps: their workers' `TMPDIR` (set in
 * vitest.config.ts) is a directory of their own, created here and removed, whatever it holds,
 * when the tier ends. CDK puts every app without an `outdir` in a fresh `cdk.out*` under the
 * temporary directory and never removes it, and a worker that is stopped runs no `exit` handler:
 * without this, each run left its cloud assemblies behind.
 *
 * @example
 * // vitest.config.ts
 * { name: 'infra', env: { TMPDIR: scratchDir('infra') }, globalSetup: ['test/support/scratch-tmpdir.ts'] }
 */
export default function setup(project: TestProject): () => void {
  const dir = project.config.env.TMPDIR;
  if (!dir) throw new Error(`project ${project.name} sets no TMPDIR for its scratch directory`);
  mkdirSync(dir, { recursive: true });
  return () => rmSync(dir, { recursive: true, force: true });
}
