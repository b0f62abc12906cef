/** What a capture of the process's output offers. */
export interface CapturedOutput {
  text(): string;
  /** Parsed JSON lines (the handlers' Powertools logs), from `from` (a `mark()`) on. */
  lines(from?: number): Record<string, unknown>[];
  /** The ERROR lines a handler logged with this message, from `from` (a `mark()`) on. */
  errors(message: string, from?: number): Record<string, unknown>[];
  /** A position in the captured text, to read only what comes after it. */
  mark(): number;
  stop(): void;
}

/**
 * Records what the process writes to stdout and stderr (Powertools Logger's JSON lines), so a
 * test can read the reasons handlers log and scan them for tokens. It still lets the output
 * through unless `quiet` is set.
 *
 * @example
 * const output = captureOutput({ quiet: true });
 * const mark = output.mark();
 * // ... run a handler ...
 * output.stop();
 * expect(output.errors('connect failed', mark)).toHaveLength(1);
 * expect(output.text()).not.toContain(token);
 */
export function captureOutput(options: { quiet?: boolean } = {}): CapturedOutput {
  let captured = '';
  const original = { out: process.stdout.write, err: process.stderr.write };
  const tap =
    (write: typeof process.stdout.write, stream: NodeJS.WriteStream) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      captured +=
        typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      if (!options.quiet)
        return (write as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    };
  process.stdout.write = tap(original.out, process.stdout) as typeof process.stdout.write;
  process.stderr.write = tap(original.err, process.stderr) as typeof process.stderr.write;
  const lines = (from = 0) =>
    captured
      .slice(from)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    text: () => captured,
    mark: () => captured.length,
    lines,
    errors: (message, from = 0) =>
      lines(from).filter((line) => line.level === 'ERROR' && line.message === message),
    stop: () => {
      process.stdout.write = original.out;
      process.stderr.write = original.err;
    },
  };
}
