/**
 * How long the tests wait for what happens after their action (a frame, a `$disconnect`, a row
 * removed, a metric line), and how often they look: `expect.poll`'s settings in
 * vitest.config.ts, and the default of the test helpers that wait. A function's first use may
 * build its bundle and start its worker cold inside that time.
 *
 * @example
 * const record = await vi.waitFor(() => found(), POLL);
 */
export const POLL = { timeout: 5000, interval: 20 };
