import { backoffDelay } from './backoff';
import {
  ConnectionRefusedError,
  ServerError,
  TripSyncError,
  type TripSyncErrorCode,
} from './errors';
import { type ClientOptions, type ResolvedOptions, resolveOptions } from './options';
import { type Cursor, type LoggedMessage, OrderedLog } from './ordered-log';
import { type MessageFrame, PROTOCOL, type ResumedFrame, type WebSocketLike } from './protocol';

/**
 * `connecting` until the first connection opens, `open` while one is, `reconnecting` between a
 * lost connection (or a failed attempt) and the next open, `closed` before `connect()`, after
 * `close()` and after the client gave up.
 *
 * @example
 * client.on('status', (status: ConnectionStatus) => {
 *   badge.textContent = status === 'open' ? 'live' : status;
 * });
 */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * A message for the app. Logged messages carry `seq` and `epoch` and arrive exactly once each,
 * in seq order; messages sent with `persist: false` (or to a connection id) carry neither and
 * arrive as they come.
 *
 * @example
 * client.on('message', ({ seq, message }: ClientMessage) => {
 *   if (seq === undefined) moveDriverMarker(message); // ephemeral
 *   else addNotification(seq, message);
 * });
 */
export interface ClientMessage {
  seq?: number;
  epoch?: string;
  message: unknown;
}

/**
 * Messages were lost between what the app had and what comes next: the app should refetch its
 * state. `truncated`: history after the cursor expired. `epoch`: the user's sequence restarted
 * (the messages of the new epoch follow). `invalid-cursor`: the server refused the cursor (one
 * from another user or environment in shared storage); the client starts afresh.
 *
 * @example
 * client.on('gap', (gap: Gap) => {
 *   console.info(`lost messages after seq ${gap.previous.seq} (${gap.reason})`);
 *   refetchTrips();
 * });
 */
export interface Gap {
  reason: 'truncated' | 'epoch' | 'invalid-cursor';
  /** Where the client stood before the gap. */
  previous: Cursor;
  /** The epoch the client follows now. */
  epoch: string | null;
}

/**
 * Each event and what its listeners receive.
 *
 * @example
 * const onError = (error: ClientEvents['error']) => console.warn(error.code);
 * client.on('error', onError);
 */
export interface ClientEvents {
  message: ClientMessage;
  status: ConnectionStatus;
  gap: Gap;
  error: TripSyncError;
}

type Listener<K extends keyof ClientEvents> = (value: ClientEvents[K]) => void;
type TimerName = 'reconnect' | 'connect' | 'ping' | 'pong' | 'reorder' | 'retry';
interface WhoAmI {
  userId: string;
  connectionId: string;
}

/** API Gateway's close after 2 hours and after 10 idle minutes ("Going away"). */
const GOING_AWAY = 1001;

/**
 * A protocol v2 (`tripsync.v2`) client for TripSync Realtime, for browsers and Node. It
 * reconnects with backoff, keeps the connection alive, resumes after every reconnect from the
 * last (epoch, seq) it handed over, and hands the app each logged message exactly once, in order.
 *
 * @example
 * const client = new TripSyncClient({
 *   url: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
 *   token: () => fetch('/api/realtime-token').then((r) => r.text()),
 *   storage: localStorage,
 *   storageKey: `tripsync:${userId}`,
 * });
 * client.on('message', ({ seq, message }) => showNotification(message));
 * client.on('gap', () => refetchTrips());
 * client.on('status', (status) => setBadge(status));
 * client.connect();
 */
export class TripSyncClient {
  private readonly options: ResolvedOptions;
  private readonly log = new OrderedLog();
  private readonly listeners: { [K in keyof ClientEvents]?: Set<Listener<never>> } = {};
  private readonly timers: Partial<Record<TimerName, ReturnType<typeof setTimeout>>> = {};
  private readonly whoamiWaiters: Array<[(value: WhoAmI) => void, (error: Error) => void]> = [];
  private currentStatus: ConnectionStatus = 'closed';
  private socket?: WebSocketLike;
  /** True once the current socket has opened. */
  private opened = false;
  /** Bumped by `close()`: an attempt that was waiting for its token stops. */
  private generation = 0;
  /** Reading the cursor from storage, once per client. */
  private loading?: Promise<void>;
  /** Consecutive attempts that failed before opening. */
  private failures = 0;
  private lastFailure = '';
  private socketError = '';
  /** The exponent of the next reconnect delay; back to 0 once a resume completes. */
  private attempt = 0;
  private resumeFailures = 0;
  /** The cursor seq the resume in flight started from (-1 after a restart); undefined: none. */
  private resumeFrom?: number;
  /** The lowest seq received since the resume in flight was sent. */
  private lowestSeen?: number;
  /** A gap was reported since the resume in flight was sent: one gap per discontinuity. */
  private gapped = false;

  /**
   * Checks the options (a `TypeError` names what is wrong). Does not connect: attach listeners,
   * then call `connect()`.
   *
   * @example
   * import { WebSocket } from 'ws';
   * const client = new TripSyncClient({ url: 'ws://127.0.0.1:3001', token: getToken, WebSocket });
   */
  constructor(options: ClientOptions) {
    this.options = resolveOptions(options);
  }

  /**
   * The connection's status; the `status` event reports each change.
   *
   * @example
   * if (client.status === 'open') client.ping();
   */
  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /**
   * The last epoch and seq handed to the app: where the next resume starts.
   *
   * @example
   * console.log(client.cursor); // { epoch: '01JD…', seq: 57 }
   */
  get cursor(): Cursor {
    return { epoch: this.log.epoch, seq: this.log.seq };
  }

  /**
   * Subscribes to `message`, `status`, `gap` or `error`; returns the function that unsubscribes.
   * A listener that throws does not stop the client: its error is rethrown in a microtask (an
   * uncaught error, as with DOM event listeners). Errors with no listener go to `console.error`.
   *
   * @example
   * const off = client.on('message', ({ seq, message }) => render(seq, message));
   * off();
   */
  on<K extends keyof ClientEvents>(type: K, listener: Listener<K>): () => void {
    const set = this.listeners[type] ?? new Set();
    this.listeners[type] = set;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Starts connecting (status `connecting`) and keeps the connection up until `close()`. Reads
   * the cursor from `storage` first. Does nothing unless the client is closed.
   *
   * @example
   * client.connect();
   */
  connect(): void {
    if (this.currentStatus !== 'closed') return;
    this.failures = 0;
    this.attempt = 0;
    this.setStatus('connecting');
    void this.dial();
  }

  /**
   * Closes the connection and stops everything: no reconnect, no timer left. Status `closed`.
   * The cursor stays; `connect()` resumes from it.
   *
   * @example
   * window.addEventListener('pagehide', () => client.close());
   */
  close(): void {
    if (this.currentStatus === 'closed') return;
    this.generation++;
    this.release(true);
    this.setStatus('closed');
  }

  /**
   * Checks the connection now (the heartbeat does so after `pingIntervalMs` of silence): when
   * no frame arrives within `pongTimeoutMs`, the connection is dead and the client reconnects.
   * Call it when a phone wakes up or comes back online. Does nothing unless open.
   *
   * @example
   * document.addEventListener('visibilitychange', () => {
   *   if (document.visibilityState === 'visible') client.ping();
   * });
   */
  ping(): void {
    if (!this.opened) return;
    this.send({ action: 'ping' });
    if (!this.timers.pong) {
      this.later('pong', this.options.pongTimeoutMs, () => {
        this.lastFailure = `no answer to a ping within ${this.options.pongTimeoutMs} ms`;
        this.release(false);
        this.reconnectIn(this.backoff());
      });
    }
  }

  /**
   * Asks the server who this connection is: the authorized user and the connection id.
   * Rejects with `NOT_OPEN` unless open, or if the connection closes before the answer.
   *
   * @example
   * client.on('status', async (status) => {
   *   if (status === 'open') console.log((await client.whoami()).connectionId);
   * });
   */
  whoami(): Promise<WhoAmI> {
    return new Promise((resolve, reject) => {
      if (!this.opened) {
        reject(new TripSyncError('NOT_OPEN', 'whoami() needs an open connection (status "open")'));
        return;
      }
      this.whoamiWaiters.push([resolve, reject]);
      this.send({ action: 'whoami' });
    });
  }

  private async dial(): Promise<void> {
    const generation = this.generation;
    const { options } = this;
    // A status listener may have closed the client in the meantime.
    if (this.currentStatus === 'closed') return;
    let failure: [TripSyncErrorCode, string] = ['TOKEN_FAILED', 'options.token() failed'];
    try {
      this.loading ??= this.load();
      await this.loading;
      const token = await options.token();
      if (generation !== this.generation) return;
      if (typeof token !== 'string' || token === '') {
        throw new TypeError(`it returned ${JSON.stringify(token)}, not a token`);
      }
      failure = ['CONNECTION_FAILED', 'could not open a WebSocket'];
      const url = new URL(options.url);
      url.searchParams.set('token', token);
      const socket = new options.WebSocket(url.href, [PROTOCOL]);
      this.socket = socket;
      this.socketError = '';
      this.later('connect', options.connectTimeoutMs, () => {
        this.lastFailure = `not open within ${options.connectTimeoutMs} ms`;
        this.release(false);
        this.failed();
      });
      socket.onopen = () => socket === this.socket && this.onOpen();
      socket.onmessage = (event) => socket === this.socket && this.onFrame(event.data);
      socket.onerror = (event) => {
        // ws names the HTTP status of a refused handshake here; a browser says nothing.
        if (socket === this.socket) this.socketError = event?.message ?? '';
      };
      socket.onclose = (event) => socket === this.socket && this.onClose(event.code, event.reason);
    } catch (cause) {
      if (generation !== this.generation) return;
      this.lastFailure = `${failure[1]}: ${cause}`;
      this.emit('error', new TripSyncError(failure[0], this.lastFailure, { cause }));
      this.failed();
    }
  }

  private onOpen(): void {
    this.stop('connect');
    this.opened = true;
    this.failures = 0;
    this.setStatus('open');
    this.resume();
  }

  private onClose(code: number, reason: string): void {
    const wasOpen = this.opened;
    this.lastFailure = `${this.socketError ? `${this.socketError}; ` : ''}closed with ${code}${reason ? ` ${reason}` : ''}`;
    this.release(false);
    if (!wasOpen) {
      this.failed();
      return;
    }
    // After API Gateway's routine closes a new connection is due at once, not after a backoff.
    this.reconnectIn(code === GOING_AWAY && this.attempt === 0 ? 0 : this.backoff());
  }

  /** An attempt failed before opening: try again after a backoff, or give up. */
  private failed(): void {
    // A browser cannot tell a refusal from a lost network; offline attempts are not refusals.
    const offline =
      (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
    if (!offline && ++this.failures >= this.options.maxRefusals) {
      const error = new ConnectionRefusedError(this.failures, this.lastFailure);
      this.close();
      this.emit('error', error);
      return;
    }
    this.reconnectIn(this.backoff());
  }

  /** The next reconnect delay, one step longer than the last. */
  private backoff(): number {
    return backoffDelay(this.attempt++, this.options.baseDelayMs, this.options.maxDelayMs);
  }

  private reconnectIn(delayMs: number): void {
    this.setStatus('reconnecting');
    if (this.currentStatus === 'reconnecting') this.later('reconnect', delayMs, () => this.dial());
  }

  /** Lets go of the socket (gracefully, or dropping it at once) and of every timer. */
  private release(graceful: boolean): void {
    for (const name in this.timers) this.stop(name as TimerName);
    for (const [, reject] of this.whoamiWaiters.splice(0)) {
      reject(new TripSyncError('NOT_OPEN', 'the connection closed before whoami() was answered'));
    }
    const socket = this.socket;
    this.socket = undefined;
    this.opened = false;
    this.resumeFrom = undefined;
    if (graceful || !socket?.terminate) socket?.close(1000);
    else socket.terminate();
  }

  private onFrame(data: unknown): void {
    // Any frame shows the connection is alive.
    this.stop('pong');
    let frame: { type?: unknown; [field: string]: unknown } | undefined;
    try {
      frame = JSON.parse(String(data));
    } catch {}
    switch (frame?.type) {
      case 'message':
        this.onMessage(frame as unknown as MessageFrame);
        return;
      case 'resumed':
        this.onResumed(frame as unknown as ResumedFrame);
        return;
      case 'whoami':
        this.whoamiWaiters.shift()?.[0]({
          userId: String(frame.userId),
          connectionId: String(frame.connectionId),
        });
        return;
      case 'error':
        this.onServerError(String(frame.code), String(frame.message));
        return;
      case 'pong':
        return;
    }
    this.badFrame(data);
  }

  private onMessage(frame: MessageFrame): void {
    const { seq, epoch, message } = frame;
    if (seq === undefined && epoch === undefined) {
      this.emit('message', { message });
      return;
    }
    if (!Number.isSafeInteger(seq) || (seq as number) < 1 || typeof epoch !== 'string') {
      this.badFrame(JSON.stringify(frame));
      return;
    }
    const previous = this.cursor;
    const outcome = this.log.add({ seq, epoch, message } as LoggedMessage);
    if (outcome === 'stale') return;
    if (outcome === 'restarted') {
      // The sequence restarted: its seq 1, 2, … are new messages, not duplicates.
      this.lowestSeen = undefined;
      if (this.resumeFrom !== undefined) this.resumeFrom = -1;
      this.gap('epoch', previous);
    }
    if (this.resumeFrom !== undefined) {
      if (!((seq as number) >= (this.lowestSeen as number))) this.lowestSeen = seq;
      this.awaitResumed();
    }
    this.deliver();
  }

  private onResumed(frame: ResumedFrame): void {
    const { epoch, last, truncated } = frame;
    if ((epoch !== null && typeof epoch !== 'string') || !Number.isSafeInteger(last)) {
      this.badFrame(JSON.stringify(frame));
      return;
    }
    const { log } = this;
    const from = this.resumeFrom;
    const previous = this.cursor;
    this.resumeFrom = undefined;
    this.stop('retry');
    if (epoch !== log.epoch) {
      // An answer about a sequence this client has already left behind; or one read before the
      // user had any sequence (nothing lost: not truncated), overtaken by the first message of
      // the sequence the client holds now.
      const overtaken = epoch === null && log.epoch !== null && !truncated;
      if ((epoch !== null && log.retired.has(epoch)) || overtaken) {
        this.deliver();
        return;
      }
      if (log.epoch === null && log.seq === 0) {
        // A client that holds nothing adopts the user's sequence: nothing of it was lost (a
        // head created a moment before its first message names an epoch with `last` 0).
        log.restart(epoch, false);
      } else {
        // No message of the current epoch came before this frame: none is retained up to `last`.
        log.restart(epoch);
        this.lowestSeen = undefined;
        this.gap('epoch', previous);
      }
    }
    if (truncated) {
      // Expiry removes the oldest messages first: everything before the first message replayed
      // (or up to `last`, if none was) is gone for good.
      log.skipTo(Math.min(this.lowestSeen ?? Number.POSITIVE_INFINITY, last + 1) - 1);
      this.gap('truncated', previous);
    }
    this.deliver();
    if (log.seq < last && log.seq !== from) {
      // One page (at most 1,000 messages) per resume: ask for the next one.
      this.resume();
    } else {
      this.attempt = 0;
      this.resumeFailures = 0;
    }
  }

  private onServerError(code: string, text: string): void {
    this.emit('error', new ServerError(code, `server: ${code}: ${text}`));
    const from = this.resumeFrom;
    if (from === undefined || !code.includes('RESUME')) return;
    this.resumeFrom = undefined;
    this.stop('retry');
    if (code === 'INVALID_RESUME') {
      if (from === 0 && this.log.epoch === null) return;
      // The server does not know this cursor: start afresh in the user's current sequence.
      const previous = this.cursor;
      this.log.restart(null, false);
      this.gap('invalid-cursor', previous);
      this.resume();
      return;
    }
    // RESUME_RATE_LIMITED, RESUME_UNAVAILABLE: ask again later.
    this.later(
      'retry',
      backoffDelay(this.resumeFailures++, this.options.baseDelayMs, this.options.maxDelayMs),
      () => this.resume(),
    );
  }

  /** Hands the app every message now in order, saves the cursor, and watches for a hole. */
  private deliver(): void {
    const { log } = this;
    const before = log.seq;
    for (let logged = log.next(); logged; logged = log.next()) {
      this.emit('message', logged);
      if (this.currentStatus === 'closed') break;
    }
    if (log.seq !== before) this.save();
    if (log.pending.size === 0) this.stop('reorder');
    else if (this.opened && this.resumeFrom === undefined && !this.timers.reorder) {
      // A message is ahead of a missing seq: if the seq is not just late, fetch it.
      this.later('reorder', this.options.reorderTimeoutMs, () => this.resume());
    }
  }

  private resume(): void {
    this.stop('reorder');
    this.stop('retry');
    if (!this.opened) return;
    const { epoch, seq } = this.log;
    this.resumeFrom = seq;
    this.lowestSeen = undefined;
    this.gapped = false;
    this.send({ action: 'resume', after: seq, ...(epoch !== null && { epoch }) });
    this.awaitResumed();
  }

  /** Asks again if the resume in flight goes silent: its `resumed` frame may have been lost. */
  private awaitResumed(): void {
    this.later('retry', this.options.pongTimeoutMs, () => this.resume());
  }

  private gap(reason: Gap['reason'], previous: Cursor): void {
    if (this.gapped) return;
    this.gapped = true;
    this.emit('gap', { reason, previous, epoch: this.log.epoch });
  }

  private send(frame: object): void {
    if (!this.opened) return;
    (this.socket as WebSocketLike).send(JSON.stringify(frame));
    // API Gateway closes a connection idle for 10 minutes: speak before that.
    this.later('ping', this.options.pingIntervalMs, () => this.ping());
  }

  private badFrame(data: unknown): void {
    this.emit(
      'error',
      new TripSyncError('BAD_FRAME', `not a protocol v2 frame: ${String(data).slice(0, 200)}`),
    );
  }

  private async load(): Promise<void> {
    const { storage, storageKey } = this.options;
    try {
      const text = await storage?.getItem(storageKey);
      if (text == null) return;
      const { epoch, seq } = JSON.parse(text);
      if (!Number.isSafeInteger(seq) || seq < 0 || (epoch !== null && typeof epoch !== 'string')) {
        throw new TypeError(`not a cursor: ${text}`);
      }
      this.log.epoch = epoch;
      this.log.seq = seq;
    } catch (cause) {
      this.storageFailed('read', cause);
    }
  }

  private save(): void {
    const { storage, storageKey } = this.options;
    if (!storage) return;
    const cursor = JSON.stringify(this.cursor);
    (async () => storage.setItem(storageKey, cursor))().catch((cause) =>
      this.storageFailed('write', cause),
    );
  }

  private storageFailed(action: string, cause: unknown): void {
    this.emit(
      'error',
      new TripSyncError('STORAGE_FAILED', `could not ${action} the cursor in storage: ${cause}`, {
        cause,
      }),
    );
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.emit('status', status);
  }

  private emit<K extends keyof ClientEvents>(type: K, value: ClientEvents[K]): void {
    const listeners = this.listeners[type] as Set<Listener<K>> | undefined;
    if (type === 'error' && !listeners?.size) console.error(value);
    for (const listener of listeners ?? []) {
      try {
        listener(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  private later(name: TimerName, delayMs: number, run: () => void): void {
    this.stop(name);
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      run();
    }, delayMs);
  }

  private stop(name: TimerName): void {
    clearTimeout(this.timers[name]);
    delete this.timers[name];
  }
}
