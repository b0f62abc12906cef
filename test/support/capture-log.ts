import type { Log } from '../../lambdas/core/ports';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>;
}

/**
 * A `Log` that keeps its lines, for assertions on what the core reports.
 *
 * @example
 * const { log, lines } = captureLog();
 */
export function captureLog(): { log: Log; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const write =
    (level: LogLine['level']) =>
    (message: unknown, attributes?: unknown): void => {
      lines.push({
        level,
        message: String(message),
        attributes: (attributes ?? {}) as Record<string, unknown>,
      });
    };
  const log = {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
  return { log: log as unknown as Log, lines };
}
