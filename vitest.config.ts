import { defineConfig } from 'vitest/config';

// Three tiers, one folder each: unit (no network), integration (real DynamoDB API, real HTTP
// and WebSocket servers), infra (CDK template assertions and cdk-nag).
const shared = {
  // Every AWS SDK process on Node 20 warns that Lambda runs a newer Node; it is noise here.
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          ...shared,
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
