/**
 * The delay before reconnect attempt `attempt` (0 for the first): exponential backoff with full
 * jitter, a uniformly random delay between 0 and `min(maxMs, baseMs × 2^attempt)`. Full jitter
 * spreads a crowd of clients that lost their connections at the same moment (an API Gateway
 * deployment, a Wi-Fi outage) instead of having them retry in waves (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015).
 *
 * @example
 * backoffDelay(0, 1000, 30_000); // 0–1,000 ms
 * backoffDelay(10, 1000, 30_000); // 0–30,000 ms: capped
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}
