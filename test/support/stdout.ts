/**
 * Records what the process writes to stdout and stderr (Powertools Logger's JSON lines) while
 * still letting it through.
 *
 * @example
 * const output = captureOutput();
 * // ... run a handler ...
 * output.stop();
 * expect(output.text()).not.toContain(token);
 */
export function captureOutput(): {
  text(): string;
  lines(): Record<string, unknown>[];
  stop(): void;
} {
  const chunks: string[] = [];
  const original = { out: process.stdout.write, err: process.stderr.write };
  const tap =
    (write: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      chunks.push(
        typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
      );
      return (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    };
  process.stdout.write = tap(original.out) as typeof process.stdout.write;
  process.stderr.write = tap(original.err) as typeof process.stderr.write;
  return {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => {
      process.stdout.write = original.out;
      process.stderr.write = original.err;
    },
  };
}
