import { type Browser, chromium, type Page, type Route } from 'playwright-core';

/**
 * Debian's Chromium, headless, as the env notes prescribe: Playwright's own browser download
 * cannot reach its host here, and none of these flags talks to the network.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Launches Debian's Chromium through playwright-core.
 *
 * @example
 * const browser = await launchChromium();
 * try { ... } finally { await browser.close(); }
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** One received message as the demo page lists it. */
export interface ListedMessage {
  seq: string;
  text: string;
}

/** The demo page of one user in a browser tab, and what a person would do with it. */
export class DemoPage {
  private held: Route[] = [];
  private holding = false;

  private constructor(
    readonly page: Page,
    readonly user: string,
  ) {}

  /** Opens `/?user=<user>` and waits until the page shows an open connection and its id. */
  static async open(browser: Browser, origin: string, user: string): Promise<DemoPage> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
    const demo = new DemoPage(page, user);
    // Reconnects fetch a fresh token first: holding that request keeps the page offline.
    await page.route('**/local/token*', (route) => {
      if (demo.holding) demo.held.push(route);
      else void route.continue();
    });
    await page.goto(`${origin}/?user=${encodeURIComponent(user)}`);
    await demo.waitForOpen();
    return demo;
  }

  async waitForOpen(): Promise<string> {
    await this.page.locator('#status', { hasText: /^open$/ }).waitFor();
    await this.page.locator('#connection-id', { hasText: /^[A-Za-z0-9_=+/-]{8,}$/ }).waitFor();
    return (await this.page.locator('#connection-id').textContent()) ?? '';
  }

  /** Fills the form and sends; resolves with the send result the page shows. */
  async send(to: string, message: unknown, persist = true): Promise<string> {
    const result = this.page.locator('#send-result');
    await result.evaluate((element) => {
      element.textContent = '';
    });
    await this.page.fill('#send-to', to);
    await this.page.fill('#send-message', JSON.stringify(message));
    await this.page.setChecked('#send-persist', persist);
    await this.page.click('#send-button');
    await result.filter({ hasText: /./ }).waitFor();
    return (await result.textContent()) ?? '';
  }

  /**
   * Presses "Drop the connection" (a server-side `@connections` DELETE) while the page's next
   * token request is held: the page stays offline until `release()`.
   */
  async dropAndHold(): Promise<void> {
    this.holding = true;
    await this.page.click('#drop-button');
    await this.page.locator('#drop-result', { hasText: '→ 204' }).waitFor();
    await this.page.locator('#status', { hasText: /reconnecting|connecting/ }).waitFor();
  }

  /** Lets the page reconnect; resolves once it is open again. */
  async release(): Promise<string> {
    this.holding = false;
    for (const route of this.held.splice(0)) await route.continue();
    return this.waitForOpen();
  }

  /** Waits until the page lists `count` messages, then returns them in order. */
  async messages(count: number): Promise<ListedMessage[]> {
    await this.page
      .locator('#messages li[data-seq]')
      .nth(count - 1)
      .waitFor();
    return this.page.locator('#messages li[data-seq]').evaluateAll((items) =>
      items.map((item) => ({
        seq: item.querySelector('.seq')?.textContent ?? '',
        text: item.querySelector('code')?.textContent ?? '',
      })),
    );
  }
}
