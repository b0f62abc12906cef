import type { Figure } from './report';

/** Where the sections put what they measured: the table's rows and the details behind them. */
export interface Output {
  figures: Figure[];
  details: Record<string, unknown>;
}

/**
 * A progress line on stderr (the table goes to stdout).
 *
 * @example
 * progress('opening 1000 connections…');
 */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
