import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoPage, launchChromium } from '../support/demo-page';
import { startTestStack, type TestStack } from '../support/local-stack';

// The demo page in real Chromium (Debian's, driven by playwright-core): two users, each in a
// tab; one sends to the other through the page's form while the other's connection is dropped.

let t: TestStack;
let browser: Browser;
beforeAll(async () => {
  t = await startTestStack();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe('the demo page at /', () => {
  it('shows messages sent during a dropped connection after the reconnect, each once, in order', async () => {
    // Prepare: Ann and Bob each have the page open; Ann sends Bob two messages.
    const ann = await DemoPage.open(browser, t.stack.endpoint, 'ann');
    const bob = await DemoPage.open(browser, t.stack.endpoint, 'bob');
    const firstConnection = await bob.waitForOpen();
    for (const seat of [1, 2]) await ann.send('bob', { type: 'seat_taken', seat });
    await bob.messages(2);

    // Act: Bob's connection is dropped on the server side; Ann sends three more meanwhile.
    await bob.dropAndHold();
    // The DELETE answers before API Gateway's $disconnect removes the row; a send in between
    // would find the row and count it stale (410). Bob is away once it has run.
    await t.invocations.disconnectOf(firstConnection);
    const whileAway = [];
    for (const seat of [3, 4, 5])
      whileAway.push(await ann.send('bob', { type: 'seat_taken', seat }));
    const secondConnection = await bob.release();
    await ann.send('ann,bob', { type: 'pool_filled' });

    // Assess: nothing reached Bob live while away; after the reconnect he has all six once.
    expect(whileAway.map((text) => JSON.parse(text.slice('sent: '.length)))).toEqual([
      { delivered: 0, stale: 0, failed: 0, seq: 3 },
      { delivered: 0, stale: 0, failed: 0, seq: 4 },
      { delivered: 0, stale: 0, failed: 0, seq: 5 },
    ]);
    expect(secondConnection).not.toBe(firstConnection);
    const listed = await bob.messages(6);
    expect(listed).toEqual([
      ...[1, 2, 3, 4, 5].map((seat) => ({
        seq: `#${seat}`,
        text: JSON.stringify({ type: 'seat_taken', seat }),
      })),
      { seq: '#6', text: '{"type":"pool_filled"}' },
    ]);
    expect(await ann.messages(1)).toEqual([{ seq: '#1', text: '{"type":"pool_filled"}' }]);
    // The page's own token endpoint belongs to the local stack only.
    expect((await fetch(`${t.stack.endpoint}/local/token?user=`)).status).toBe(400);
  });
});
