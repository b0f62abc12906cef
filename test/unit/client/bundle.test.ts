import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLIENT_BUDGET_BYTES, measureClientBundle } from '../../../bench/client-bundle';
import { bundleClient } from '../../../client/build';

describe('the client bundle', () => {
  it('is measured, carries only the client’s own sources, and stays within the 4 KB budget', async () => {
    // Act
    const size = await measureClientBundle();

    // Assess: the budget is the (minified + gzipped); the size is a deterministic
    // property of the code and the pinned esbuild, not a timing.
    expect(size.gzipBytes).toBeGreaterThan(0);
    expect(size.minifiedBytes).toBeGreaterThan(size.gzipBytes);
    expect(size.inputs.length).toBeGreaterThan(0);
    expect(size.inputs.filter((path) => !path.startsWith('client/src/'))).toEqual([]);
    expect(size.gzipBytes).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES);
  });

  it('loads in Node as one ESM file with nothing to import', async () => {
    // Prepare: a directory with no node_modules anywhere above it to resolve an import from.
    const { code } = await bundleClient();
    const dir = mkdtempSync(join(tmpdir(), 'tripsync-client-'));
    try {
      const file = join(dir, 'tripsync-client.js');
      writeFileSync(file, code);
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');

      // Act
      const module = await import(pathToFileURL(file).href);

      // Assess
      expect(Object.keys(module).sort()).toEqual([
        'ConnectionRefusedError',
        'DEFAULTS',
        'PROTOCOL',
        'ServerError',
        'TripSyncClient',
        'TripSyncError',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
