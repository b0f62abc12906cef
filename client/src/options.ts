import type { WebSocketConstructor } from './protocol';

/**
 * Where the client keeps its cursor (the last epoch and seq it handed to the app) so that a new
 * client, after a page reload or an app restart, resumes where the last one stopped. Shaped like
 * `localStorage`; async adapters (React Native's `AsyncStorage`) work too.
 *
 * @example
 * new TripSyncClient({ url, token, storage: localStorage, storageKey: `tripsync:${userId}` });
 */
export interface CursorStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
}

/**
 * What `new TripSyncClient(options)` takes. Only `url` and `token` are required.
 *
 * @example
 * const options: ClientOptions = {
 *   url: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
 *   token: () => auth.currentToken(),
 * };
 */
export interface ClientOptions {
  /** The WebSocket API's URL (`wss://…/stage`, or `ws://127.0.0.1:3001` locally). */
  url: string;
  /**
   * Returns the token for the `token` query parameter. Called before every connection attempt,
   * reconnects included, so a short-lived token is fresh each time.
   */
  token: () => string | Promise<string>;
  /** The WebSocket class. Default: `globalThis.WebSocket`; pass `ws`'s in Node 20 and 21. */
  WebSocket?: WebSocketConstructor;
  /** Keeps the cursor across client instances (page reloads). Default: memory only. */
  storage?: CursorStorage;
  /** The storage key; one per user if users share a device. Default: `'tripsync.cursor'`. */
  storageKey?: string;
  /**
   * Consecutive connection attempts that fail before opening (refused handshakes, or any
   * failure a browser cannot tell from one) before the client gives up. Default: 10.
   */
  maxRefusals?: number;
  /** First reconnect delay bound; each attempt doubles it, up to `maxDelayMs`. Default: 1,000. */
  baseDelayMs?: number;
  /** Cap of the reconnect delay. Default: 30,000. */
  maxDelayMs?: number;
  /**
   * A ping is sent after this long without sending anything. API Gateway closes a connection
   * idle for 10 minutes; half of that leaves room for timers a hidden tab delays. Default: 300,000.
   */
  pingIntervalMs?: number;
  /** No frame within this long after a ping: the connection is dead (half-open). Default: 5,000. */
  pongTimeoutMs?: number;
  /** A connection attempt not open within this long fails. Default: 15,000. */
  connectTimeoutMs?: number;
  /**
   * How long a message that is ahead of a missing seq waits for it (concurrent sends can arrive
   * out of order) before the client resumes to fetch it. Default: 1,000.
   */
  reorderTimeoutMs?: number;
}

/**
 * Every default of the client, in one place.
 *
 * @example
 * new TripSyncClient({ url, token, pingIntervalMs: DEFAULTS.pingIntervalMs / 2 });
 */
export const DEFAULTS = {
  storageKey: 'tripsync.cursor',
  maxRefusals: 10,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  pingIntervalMs: 300_000,
  pongTimeoutMs: 5000,
  connectTimeoutMs: 15_000,
  reorderTimeoutMs: 1000,
} as const;

/**
 * The options with every default filled in.
 *
 * @example
 * const resolved: ResolvedOptions = resolveOptions({ url, token });
 */
export type ResolvedOptions = Required<Omit<ClientOptions, 'storage'>> &
  Pick<ClientOptions, 'storage'>;

/**
 * Fills in the defaults and rejects what cannot work, naming the option and what it got.
 *
 * @example
 * resolveOptions({ url: 'wss://x.example/prod', token: () => 't', WebSocket: WS });
 */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  const resolved: Record<string, unknown> = {
    ...DEFAULTS,
    WebSocket: (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
  };
  // An option given as undefined keeps its default.
  for (const [key, value] of Object.entries(options))
    if (value !== undefined) resolved[key] = value;
  const checked = resolved as ResolvedOptions;
  const fail = (message: string) => {
    throw new TypeError(`TripSyncClient: ${message}`);
  };
  if (!/^wss?:\/\/./.test(String(checked.url))) {
    fail(`url must start with wss:// or ws://, got ${JSON.stringify(checked.url)}`);
  }
  if (typeof checked.token !== 'function') fail('token must be a function returning the token');
  if (typeof checked.WebSocket !== 'function') {
    fail('no WebSocket class: pass options.WebSocket (e.g. `import { WebSocket } from "ws"`)');
  }
  if (typeof checked.storageKey !== 'string') fail('storageKey must be a string');
  const { maxRefusals } = checked;
  if (!(maxRefusals >= 1 && (Number.isInteger(maxRefusals) || maxRefusals === Infinity))) {
    fail(`maxRefusals must be an integer from 1 (Infinity: never give up), got ${maxRefusals}`);
  }
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    // setTimeout fires at once when given more than 2^31 - 1 ms.
    const ms = checked[key] as number;
    if (key.endsWith('Ms') && !(ms > 0 && ms <= 2 ** 31 - 1)) {
      fail(`${key} must be a number of milliseconds from 1 to 2^31 - 1, got ${ms}`);
    }
  }
  return checked;
}
