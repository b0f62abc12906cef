import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * tsx's transform cache, which the commands the tests spawn with tsx keep in the temp folder.
 * It is a cache, not something a test made: in the run's folder it is a link to the machine's,
 * so a run does not start with a cold cache.
 */
const TSX_CACHE = `tsx-${process.geteuid?.() ?? 'user'}`;

/**
 * Vitest global setup: the test run gets a temp folder of its own, and fails if anything a test
 * made is still in it at the end. TMPDIR points there for the test workers and every process
 * they start (`os.tmpdir()` reads it), so what a run leaves behind is seen, and runs of other
 * people on the same machine do not count. The folder itself is removed either way.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const machineTmp = tmpdir();
  const runTmp = mkdtempSync(join(machineTmp, 'tripsync-test-run-'));
  mkdirSync(join(machineTmp, TSX_CACHE), { recursive: true });
  symlinkSync(join(machineTmp, TSX_CACHE), join(runTmp, TSX_CACHE));
  process.env.TMPDIR = runTmp;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    const left = readdirSync(runTmp).filter((name) => name !== TSX_CACHE);
    // Removes the link to tsx's cache, not the cache.
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
