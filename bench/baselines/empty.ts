/**
 * Cold-start floor: a handler that imports nothing. Bundled by CDK exactly like the real
 * handlers (see `bench/bundles.ts`), so the difference is what the handlers' code costs.
 */
export async function handler(): Promise<Record<string, never>> {
  return {};
}
