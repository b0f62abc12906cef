/**
 * Polls `check` until it returns true, or fails after `timeoutMs`.
 *
 * @example
 * await eventually(async () => (await stack.stats()).connections === 0, 'every socket closed');
 */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
