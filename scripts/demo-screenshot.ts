/**
 * `npm run docs:screenshot`: the demo page's screenshot in docs/ (docs/images/demo-page.png),
 * taken in Debian's Chromium the way test/e2e/demo-page.test.ts drives it: Bob's page after his
 * connection was dropped and the messages sent meanwhile were resumed.
 */
import { fileURLToPath } from 'node:url';
import { startLocalStack } from '../local/stack';
import { DemoPage, launchChromium } from '../test/support/demo-page';

const OUT = fileURLToPath(new URL('../docs/images/demo-page.png', import.meta.url));

const stack = await startLocalStack({
  port: 0,
  dynamoDbPort: 0,
  log: false,
  handlerLogLevel: 'SILENT',
});
const browser = await launchChromium();
try {
  const ann = await DemoPage.open(browser, stack.endpoint, 'ann');
  const bob = await DemoPage.open(browser, stack.endpoint, 'bob');
  await ann.send('bob', { type: 'seat_taken', tripId: 't-7', seat: 1 });
  await ann.send('bob', { type: 'seat_taken', tripId: 't-7', seat: 2 });
  await bob.messages(2);
  await bob.dropAndHold();
  await ann.send('bob', { type: 'seat_taken', tripId: 't-7', seat: 3 });
  await ann.send('bob', { type: 'pool_filled', tripId: 't-7' });
  await ann.send('bob', { type: 'driver_position', lat: 48.8566, lng: 2.3522 }, false);
  await bob.release();
  await ann.send('ann,bob', { type: 'driver_near', tripId: 't-7', minutes: 3 });
  await bob.messages(5);
  await bob.page.locator('#drop-result').evaluate((element) => {
    element.textContent += ' (the page reconnected and resumed from seq 2)';
  });
  await bob.page.screenshot({ path: OUT });
  process.stdout.write(`${OUT}\n`);
} finally {
  await browser.close();
  await stack.stop();
}
