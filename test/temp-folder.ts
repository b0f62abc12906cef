import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What may stay in the run's temp folder: tsx's transform cache (`tsx-<uid>`), which the
 * commands the tests spawn with tsx write there. It is a cache, not something a test made.
 */
const TOOL_CACHES = /^tsx-\d+$/;

/**
 * Vitest global setup: the test run gets a temp folder of its own, and fails if anything a test
 * made is still in it at the end. TMPDIR points there for the test workers and every process
 * they start (`os.tmpdir()` reads it), so what a run leaves behind is seen, and runs of other
 * people on the same machine do not count. The folder itself is removed either way.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const runTmp = mkdtempSync(join(tmpdir(), 'tripsync-test-run-'));
  process.env.TMPDIR = runTmp;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    const left = readdirSync(runTmp).filter((name) => !TOOL_CACHES.test(name));
    rmSync(runTmp, { recursive: true, force: true });
    if (left.length > 0) {
      // A throw here would only be logged: Vitest's exit code is already decided.
      process.exitCode = 1;
      console.error(
        `\nerror: the tests left ${left.length} item(s) in the temp folder; a test must remove ` +
          `what it makes, even when it fails:\n${left.map((name) => `  ${name}`).join('\n')}\n`,
      );
    }
  };
}
