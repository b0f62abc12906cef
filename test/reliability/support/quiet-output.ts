/**
 * Captures everything this process writes to stdout and stderr (the handlers' Powertools JSON
 * logs) without echoing it, so a test can read the reasons they log and scan them for tokens.
 *
 * @example
 * const output = captureQuietly();
 * // ... drive the stack ...
 * const lines = output.jsonLines().filter((l) => l.message === 'token rejected');
 * output.stop();
 */
export function captureQuietly(): {
  text(): string;
  /** Parsed JSON lines (the handlers' logs), from `from` (a previous `mark()`) on. */
  jsonLines(from?: number): Record<string, unknown>[];
  /** A position in the captured text, for reading only what came after it. */
  mark(): number;
  stop(): void;
} {
  let captured = '';
  const original = { out: process.stdout.write, err: process.stderr.write };
  const swallow = ((chunk: unknown, ...rest: unknown[]): boolean => {
    captured +=
      typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = swallow;
  process.stderr.write = swallow;
  return {
    text: () => captured,
    mark: () => captured.length,
    jsonLines: (from = 0) =>
      captured
        .slice(from)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => {
      process.stdout.write = original.out;
      process.stderr.write = original.err;
    },
  };
}
