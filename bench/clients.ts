import { WebSocket } from 'ws';

/** How {@link ClientFleet.open} opens connections. */
export interface OpenOptions {
  /** Handshakes in flight at once. */
  inFlight: number;
  /** Fails a handshake that has not completed in this time. @default 30000 */
  timeoutMs?: number;
}

/** What {@link ClientFleet.open} opened, and how fast. */
export interface OpenResult {
  sockets: WebSocket[];
  /** Each handshake, from the upgrade request to `open`, in URL order. */
  handshakeMs: number[];
  /** `performance.now()` when each handshake completed. */
  completedAt: number[];
  /** `performance.now()` when the first handshake began. */
  started: number;
  elapsedMs: number;
}

/**
 * Many real `ws` client connections in this process, counting the frames they receive: the
 * benchmark waits for "every socket got the message" without parsing each frame.
 *
 * @example
 * const fleet = new ClientFleet();
 * await fleet.open(urls, { inFlight: 50 });
 * const arrived = fleet.expect(urls.length);
 * await invokeSend(...);
 * const lastReceiptAt = await arrived; // performance.now() of the last frame
 */
export class ClientFleet {
  readonly sockets: WebSocket[] = [];
  private received = 0;
  private target = Number.POSITIVE_INFINITY;
  private lastAt = 0;
  private settle: ((lastAt: number) => void) | undefined;

  /**
   * Opens one connection per URL, `inFlight` handshakes at a time. Resolves with the sockets
   * in URL order, each handshake's duration, and when each completed (`performance.now()`).
   */
  async open(urls: readonly string[], options: OpenOptions): Promise<OpenResult> {
    const sockets: WebSocket[] = new Array(urls.length);
    const handshakeMs: number[] = new Array(urls.length);
    const completedAt: number[] = new Array(urls.length);
    let next = 0;
    const worker = async () => {
      while (next < urls.length) {
        const index = next++;
        const started = performance.now();
        sockets[index] = await this.openOne(urls[index] as string, options.timeoutMs ?? 30_000);
        completedAt[index] = performance.now();
        handshakeMs[index] = (completedAt[index] as number) - started;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.min(options.inFlight, urls.length) }, worker));
    return { sockets, handshakeMs, completedAt, started, elapsedMs: performance.now() - started };
  }

  /** Open sockets. */
  get size(): number {
    return this.sockets.length;
  }

  /**
   * Resolves with the `performance.now()` of the `count`-th frame received from now on, or
   * rejects after `timeoutMs`.
   */
  expect(count: number, timeoutMs = 30_000): Promise<number> {
    this.received = 0;
    this.target = count;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle = undefined;
        reject(new Error(`received ${this.received} of ${count} frames within ${timeoutMs} ms`));
      }, timeoutMs);
      this.settle = (lastAt) => {
        clearTimeout(timer);
        resolve(lastAt);
      };
    });
  }

  /** Closes every socket (1000) and waits until each has closed. */
  closeAll(): Promise<void> {
    return this.close(this.sockets.length);
  }

  /** Closes the `count` most recently opened sockets (1000) and waits until each has closed. */
  async close(count: number): Promise<void> {
    const sockets = this.sockets.splice(Math.max(0, this.sockets.length - count));
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.close(1000);
          }),
      ),
    );
  }

  private openOne(url: string, timeoutMs: number): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`handshake not completed within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        this.sockets.push(ws);
        ws.on('message', () => this.onFrame());
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        reject(new Error(`handshake refused with HTTP ${res.statusCode}`));
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  private onFrame(): void {
    this.received++;
    if (this.received === this.target) {
      this.lastAt = performance.now();
      this.settle?.(this.lastAt);
      this.settle = undefined;
    }
  }
}
