import { afterAll, describe, expect, test } from 'vitest';
import { startTestStack, type TestStack } from '../support/local-stack';

// Each function of the local stack runs in worker threads of its own, as Lambda runs it in
// execution environments: its own process.env and module state, cold and warm invocations.

const stacks: TestStack[] = [];
afterAll(() => Promise.all(stacks.map((t) => t.stop())));

const STACK_VARIABLES = ['TABLE_NAME', 'DYNAMODB_ENDPOINT', 'CONNECTIONS_ENDPOINT', 'JWT_SECRET'];

describe('functions in workers of their own', () => {
  test('stacks started together each reach their own endpoints; this process’s environment is left alone', async () => {
    // Prepare
    const before = STACK_VARIABLES.map((name) => process.env[name]);

    // Act: started at once, with different tables and secrets.
    const [a, b] = await Promise.all([
      startTestStack({ tableName: 'ConnectionsA', jwtSecret: 'a'.repeat(40) }),
      startTestStack({ tableName: 'ConnectionsB', jwtSecret: 'b'.repeat(40) }),
    ]);
    stacks.push(a, b);
    const [onA, onB] = [await a.connect('1'), await b.connect('2')];
    const [idOnA, idOnB] = [(await onA.whoami()).connectionId, (await onB.whoami()).connectionId];
    const [sentOnA, sentOnB] = [
      await a.invokeSend({ userId: '1', message: { type: 'a' } }),
      await b.invokeSend({ userId: '2', message: { type: 'b' } }),
    ];

    // Assess: each stack's handlers used its own table, secret and @connections.
    expect((await a.rows()).map((r) => r.connectionId)).toEqual([idOnA]);
    expect((await b.rows()).map((r) => r.connectionId)).toEqual([idOnB]);
    expect([sentOnA.body, sentOnB.body]).toEqual([
      { delivered: 1, stale: 0, failed: 0, seq: 1 },
      { delivered: 1, stale: 0, failed: 0, seq: 1 },
    ]);
    expect(JSON.parse(await onA.next())).toEqual({ type: 'a' });
    expect(JSON.parse(await onB.next())).toEqual({ type: 'b' });
    expect(STACK_VARIABLES.map((name) => process.env[name])).toEqual(before);
  });

  test('a function’s first worker starts at its first invocation, as on Lambda, or with the stack when warmFunctions is set', async () => {
    // Prepare
    const [lazy, warmed] = await Promise.all([
      startTestStack(),
      startTestStack({ warmFunctions: true }),
    ]);
    stacks.push(lazy, warmed);

    // Act
    for (const t of [lazy, warmed]) await (await t.connect('4')).whoami();

    // Assess: Init Duration is on the record of an invocation that started its worker.
    const first = (t: TestStack, name: 'authorizer' | 'default') =>
      t.invocations.of(name)[0]?.initDurationMs;
    expect(first(lazy, 'authorizer')).toBeGreaterThan(0);
    expect(first(lazy, 'default')).toBeGreaterThan(0);
    expect(first(warmed, 'authorizer')).toBeUndefined();
    expect(first(warmed, 'default')).toBeUndefined();
  });

  test('an invocation after the workers went idle starts cold, with an Init Duration in the log and its record', async () => {
    // Prepare
    // Idle long enough that a loaded machine does not stop the worker between the first two
    // invocations; the wait after them is three times as long.
    const idleMs = 500;
    const t = await startTestStack({ functionIdleTimeoutMs: idleMs });
    stacks.push(t);
    const client = await t.connect('3');
    await client.whoami();
    await client.whoami(); // right after another: warm
    const warm = t.invocations.of('default').at(-1);

    // Act
    await new Promise((resolve) => setTimeout(resolve, 3 * idleMs));
    await client.whoami();

    // Assess
    const cold = t.invocations.of('default').at(-1);
    expect(warm?.initDurationMs).toBeUndefined();
    expect(cold?.initDurationMs).toBeGreaterThan(0);
    const stopped = new RegExp(`worker {6}default #\\d+ {2}stopped: idle for ${idleMs / 1000} s`);
    expect(t.lines.some((line) => stopped.test(line))).toBe(true);
    // The last cold start logged is this invocation's (the first one's may show the same Init
    // Duration, to the millisecond).
    const coldStart = 'cold start  default #\\d+  Init Duration: ';
    const anyColdStart = new RegExp(coldStart);
    const coldStarts = t.lines.filter((line) => anyColdStart.test(line));
    expect(coldStarts.at(-1)).toMatch(new RegExp(`${coldStart}${cold?.initDurationMs} ms`));
  });
});
