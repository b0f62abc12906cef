import type { OpenResult } from './clients';
import { type Summary, summarize } from './stats';

/**
 * Connections per second over consecutive chunks of completed handshakes: one sample per
 * `chunk` connections, from every batch given (each opened with the same number in flight).
 *
 * @example
 * connectionRates([fanOpen, usersOpen], 100).median; // connections per second
 */
export function connectionRates(batches: readonly OpenResult[], chunk = 100): Summary {
  const rates: number[] = [];
  for (const batch of batches) {
    const done = [...batch.completedAt].sort((a, b) => a - b);
    let from = batch.started;
    for (let end = chunk; end <= done.length; end += chunk) {
      const at = done[end - 1] as number;
      rates.push((chunk * 1000) / (at - from));
      from = at;
    }
    if (done.length < chunk && done.length > 0) {
      rates.push((done.length * 1000) / ((done[done.length - 1] as number) - batch.started));
    }
  }
  return summarize(rates);
}

/**
 * The overall rate of one batch: connections over the time from the first handshake's start
 * to the last one's completion.
 *
 * @example
 * overallRate(sequentialOpen); // connections per second
 */
export function overallRate(batch: OpenResult): number {
  return (batch.sockets.length * 1000) / batch.elapsedMs;
}
