import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import type { TestSpecification } from 'vitest/node';
import { BaseSequencer } from 'vitest/node';
import { POLL } from './test/support/waits.ts';

// Tiers, one folder each: unit (no network), integration (real DynamoDB API, real HTTP
// servers, the handlers in-process), e2e (the local stack driven by real clients), infra (CDK
// template assertions and cdk-nag), bench (the quick benchmark runs and measures every figure).
const shared = {
  // Worker threads rather than child processes: a thread starts at a fraction of a process's
  // CPU, and the suite is bound by CPU on small machines. The tiers that need a process of
  // their own (infra: CDK's bundling hands esbuild this process's stdio) set 'forks'.
  pool: 'threads' as const,
  // A worker runs file after file, and the packages in node_modules (the AWS SDK, aws-cdk-lib,
  // dynalite) stay loaded between them; each file still gets fresh instances of the project's
  // own modules (test/support/fresh-modules.ts), which read their configuration at import.
  isolate: false,
  setupFiles: ['test/support/fresh-modules.ts'],
  // Every AWS SDK process on Node 20 warns that Lambda runs a newer Node; it is noise here.
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  // expect.poll waits for what happens after a test's action (a $disconnect, a row removed) as
  // long as the test helpers that wait do (test/support/waits.ts).
  expect: { poll: { ...POLL } },
};
// SDK clients in these tiers talk to local servers (dynalite, the local stack) that accept any
// signature; the SDK still needs a region and credentials to sign with. Never real ones.
const localAws = {
  ...shared,
  env: {
    ...shared.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
  },
};

/**
 * The tiers whose files take longest start first, so that with two files at a time the run does
 * not end on one long file while the other worker idles. Within a tier, Vitest's own order
 * (slowest of the last run first, or the largest file on a fresh clone).
 */
const TIER_ORDER = ['bench', 'reliability', 'e2e', 'integration', 'infra', 'unit'];

/**
 * Vitest sequencer: the tiers in `TIER_ORDER`, each in Vitest's order.
 */
class SlowTiersFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const tier = (spec: TestSpecification) => {
      const index = TIER_ORDER.indexOf(spec.project.name);
      return index === -1 ? TIER_ORDER.length : index;
    };
    // Array.prototype.sort is stable: Vitest's order holds within a tier.
    return (await super.sort(files)).sort((a, b) => tier(a) - tier(b));
  }
}

export default defineConfig({
  test: {
    // One file more than there are cores: most files spend part of their time waiting on
    // sockets, processes and timers (a hung shard, an idle timeout, a JVM starting), and the
    // extra file computes meanwhile. Vitest's default (cores - 1) runs them one by one on two.
    // The tests that time something start their clocks where a slow machine cannot move them.
    maxWorkers: availableParallelism() + 1,
    sequence: { sequencer: SlowTiersFirst },
    // A private temp folder for the run; the run fails if a test leaves anything in it.
    globalSetup: ['test/temp-folder.ts'],
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          ...localAws,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          ...localAws,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          ...localAws,
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/reliability/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          ...shared,
          name: 'bench',
          include: ['test/bench/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          ...shared,
          pool: 'forks',
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
