/** Where the local stack's readable lines go: stdout for `npm start`, a collector in tests. */
export type LogSink = (line: string) => void;

/**
 * One readable line per lifecycle event, `HH:MM:SS.mmm  kind        details`. Never a token,
 * a query string or a message body: only ids, sizes, codes and timings.
 *
 * @example
 * const log = new StackLog(console.log);
 * log.line('connect', 'TXzPWdnOjoECGjA=  user 42  (1 open)');
 */
export class StackLog {
  constructor(
    private readonly sink: LogSink,
    private readonly now: () => number = Date.now,
  ) {}

  line(kind: string, details: string): void {
    const time = new Date(this.now()).toISOString().slice(11, 23);
    this.sink(`${time}  ${kind.padEnd(10)}  ${details}`);
  }
}

/**
 * Sizes in log lines.
 *
 * @example
 * formatBytes(312);  // '312 B'
 * formatBytes(1229); // '1.2 KiB'
 */
export function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}
