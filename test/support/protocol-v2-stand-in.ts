/**
 * STAND-IN SERVER: a protocol v2 (`tripsync.v2`) server for the client library's integration
 * tests, to be used until the local stack speaks v2 (issue 8 parts 1–2 are built in parallel).
 * It is not the product and shares no code with it: it implements PROTOCOL-V2.md on a real
 * WebSocket server (`ws`, 127.0.0.1, port 0), so the client is tested over real sockets:
 * subprotocol negotiation, a per-user log with dense seqs and an epoch, resume with paging,
 * expiry (`truncated`), sequence restarts (new epoch), pong, whoami, refused handshakes (401 as
 * API Gateway answers them), and connections dropped with a close frame, without one (TCP reset),
 * or left half-open (the socket stays up, nothing gets through). Once the local stack speaks v2,
 * e2e tests run the same client against it.
 */
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/** The subprotocol of PROTOCOL-V2.md, spelled out here rather than taken from the client under test. */
const V2 = 'tripsync.v2';
// Captured at import, before a test fakes timers: the waits' guards keep real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const PAGE_SIZE = 1000;

/** One accepted connection and everything it sent. */
export interface StandInConnection {
  id: string;
  userId: string;
  /** `tripsync.v2`, or `v1` when the client did not offer it. */
  protocol: 'tripsync.v2' | 'v1';
  /** The token the handshake carried. */
  token: string;
  /**
   * Every frame the client sent, parsed (a frame that is not JSON as its text), those that
   * reached a half-open connection included (they are never answered).
   */
  received: unknown[];
  /** Every frame posted to the connection, in order. */
  posted: unknown[];
  /** `open`; `half-open` once dropped that way; `closed` once the socket closed. */
  state: 'open' | 'half-open' | 'closed';
  /** Resolves when the socket has closed (from either side), with the code the server saw. */
  closed: Promise<number>;
  ws: WebSocket;
}

/** What a test may do between two replayed frames. */
export interface ReplayStep {
  connection: StandInConnection;
  /** The frame about to be posted: 0 for the first of this resume. */
  index: number;
  seq: number;
}

export interface StandInOptions {
  /**
   * Maps a token to a user id, or to the HTTP status the handshake is refused with (401 for a
   * bad token, as API Gateway answers). Default: `user:<id>` tokens, anything else 401.
   */
  authorize?: (token: string) => string | number;
  /**
   * Called before each replayed frame is posted and awaited: tests send live messages or drop
   * the connection in the middle of a replay here. The replay stops once the connection is gone.
   */
  beforeReplayFrame?: (step: ReplayStep) => void | Promise<void>;
  /**
   * Called as a connection is accepted, before the client can have sent anything on it: a send
   * made here reaches the connection live and is also in the replay of its first resume.
   */
  onConnection?: (connection: StandInConnection) => void;
  /**
   * Called before a resume's `resumed` frame is posted, after its replay: a send made here
   * reaches the client live ahead of an answer read before it (a send racing the resume).
   */
  beforeResumed?: (connection: StandInConnection) => void;
}

interface UserLog {
  epoch: string | null;
  /** The highest seq of the current epoch; 0 for no log. */
  last: number;
  /** Messages of the current epoch by seq - 1. */
  messages: unknown[];
  /** Seqs up to this one have expired (retention). */
  expiredThrough: number;
}

/** A refused handshake, as the client saw it: the status and the token it carried. */
export interface Handshake {
  token: string | null;
  protocols: string[];
  status: number;
}

/**
 * Starts the stand-in on a free port.
 *
 * @example
 * const server = await startStandIn();
 * const client = new TripSyncClient({ url: server.url, token: () => 'user:42', WebSocket });
 * server.send('42', { type: 'seat.taken' });
 * await server.close();
 */
export async function startStandIn(options: StandInOptions = {}): Promise<StandIn> {
  const standIn = new StandIn(options);
  await standIn.listen();
  return standIn;
}

/**
 * The stand-in server: its log, its connections, and the drops and failures tests inject.
 *
 * @example
 * const server = await startStandIn();
 * server.send('42', { type: 'pool.filled' });
 * server.drop(await server.accepted(1), 'half-open');
 */
export class StandIn {
  /** `ws://127.0.0.1:<port>/`, known once listening. */
  url = '';
  /** Every handshake, accepted (101) or refused, in order. */
  readonly handshakes: Handshake[] = [];
  /** Every accepted connection, in order. */
  readonly connections: StandInConnection[] = [];
  /** Resume frames answered with an `error` frame of this code, next first (failure injection). */
  readonly failResumesWith: string[] = [];
  /** How many of the next `resumed` frames are lost (a failed post), replayed messages not. */
  loseResumedFrames = 0;
  private readonly logs = new Map<string, UserLog>();
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  /** Conditions awaited by tests, checked on each handshake and each frame received. */
  private readonly waiters = new Set<() => void>();
  private epochCounter = 0;
  private connectionCounter = 0;

  constructor(private readonly options: StandInOptions) {
    this.http = createServer((_req, res) => res.writeHead(426).end());
    this.wss = new WebSocketServer({
      noServer: true,
      // API Gateway answers the subprotocol only if $connect returns it; the v2 $connect does
      // for `tripsync.v2` and for nothing else.
      handleProtocols: (offered) => (offered.has(V2) ? V2 : false),
    });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** @internal started by `startStandIn`. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}/`;
  }

  /** The open (or half-open) connections of a user. */
  connectionsOf(userId: string): StandInConnection[] {
    return this.connections.filter((c) => c.userId === userId && c.state !== 'closed');
  }

  /** Resolves once `count` connections have been accepted in all; rejects after `timeoutMs`. */
  async accepted(count: number, timeoutMs = 10_000): Promise<StandInConnection> {
    await this.waitFor(`connection ${count}`, () => this.connections.length >= count, timeoutMs);
    return this.connections[count - 1] as StandInConnection;
  }

  /** Resolves once `count` handshakes (accepted or refused) have arrived in all. */
  handshakesSeen(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(`handshake ${count}`, () => this.handshakes.length >= count, timeoutMs);
  }

  /** Resolves once `connection` has sent `count` frames with this action in all. */
  framesReceived(
    connection: StandInConnection,
    action: string,
    count: number,
    timeoutMs = 10_000,
  ): Promise<void> {
    return this.waitFor(
      `${count} ${action} frames`,
      () =>
        connection.received.filter((f) => (f as { action?: unknown }).action === action).length >=
        count,
      timeoutMs,
    );
  }

  /** Resolves when `condition` holds, checked on each connection and frame; a guard rejects. */
  private waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.waiters.delete(check);
        realClearTimeout(guard);
        resolve();
      };
      const guard = realSetTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`stand-in: timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The resume frames a connection sent, in order. */
  resumesOf(connection: StandInConnection): Array<{ after: number; epoch?: string }> {
    return connection.received.filter(
      (f): f is { action: 'resume'; after: number; epoch?: string } =>
        (f as { action?: unknown }).action === 'resume',
    );
  }

  /**
   * Sends as the send Lambda does: logged by default (the next seq of the user's epoch), posted
   * to every open connection of the user (v2 wrapped, v1 verbatim; a half-open one swallows it).
   */
  send(
    userId: string,
    message: unknown,
    { persist = true, lost = false }: { persist?: boolean; lost?: boolean } = {},
  ): { seq?: number } {
    let frame: Record<string, unknown> = { type: 'message', message };
    let seq: number | undefined;
    if (persist) {
      const log = this.logOf(userId);
      if (log.epoch === null) log.epoch = this.newEpoch();
      seq = ++log.last;
      log.messages.push(message);
      frame = { type: 'message', seq, epoch: log.epoch, message };
    }
    // `lost`: logged, but every post failed (a throttled or timed-out @connections POST).
    for (const connection of lost ? [] : this.connectionsOf(userId)) {
      this.post(connection, connection.protocol === 'v1' ? message : frame);
    }
    return seq === undefined ? {} : { seq };
  }

  /** Retention elapsed for the user's messages up to `seq`: they are no longer replayed. */
  expire(userId: string, seq: number): void {
    const log = this.logOf(userId);
    log.expiredThrough = Math.max(log.expiredThrough, seq);
  }

  /** The user's counter was lost: the sequence restarts at 1 in a new epoch. */
  restartSequence(userId: string): string {
    const epoch = this.newEpoch();
    this.logs.set(userId, { epoch, last: 0, messages: [], expiredThrough: 0 });
    return epoch;
  }

  /** The user's current epoch (null before anything was logged). */
  epochOf(userId: string): string | null {
    return this.logOf(userId).epoch;
  }

  /**
   * Drops a connection: `close` with a close frame (API Gateway's 1001 after 2 hours, 1000 for
   * an `@connections` DELETE), `reset` without one (the TCP connection is destroyed: the client
   * sees 1006), `half-open` with no sign at all (the socket stays up, nothing more gets through
   * in either direction, as when a phone's network vanishes).
   */
  drop(
    connection: StandInConnection,
    how: 'close' | 'reset' | 'half-open',
    code = 1000,
    reason = '',
  ): void {
    if (how === 'close') connection.ws.close(code, reason);
    else if (how === 'reset') connection.ws.terminate();
    else connection.state = 'half-open';
  }

  /** Closes every socket and the server. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private logOf(userId: string): UserLog {
    let log = this.logs.get(userId);
    if (!log) {
      log = { epoch: null, last: 0, messages: [], expiredThrough: 0 };
      this.logs.set(userId, log);
    }
    return log;
  }

  private newEpoch(): string {
    return `epoch-${++this.epochCounter}-${Date.now().toString(36)}`;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A refused client resets the connection once it has read the status (ws does): expected.
    socket.on('error', () => {});
    const token = new URL(req.url ?? '/', 'http://stand-in').searchParams.get('token');
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const authorize =
      this.options.authorize ??
      ((t: string) => (t.startsWith('user:') && t.length > 5 ? t.slice(5) : 401));
    const outcome = token ? authorize(token) : 401;
    if (typeof outcome === 'number') {
      this.handshakes.push({ token, protocols, status: outcome });
      for (const check of [...this.waiters]) check();
      // API Gateway's refusal: the status and a JSON message, then the connection ends.
      const body = JSON.stringify({ message: STATUS_CODES[outcome] ?? 'Error' });
      socket.end(
        `HTTP/1.1 ${outcome} ${STATUS_CODES[outcome]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.handshakes.push({ token, protocols, status: 101 });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      let markClosed: (code: number) => void = () => {};
      const connection: StandInConnection = {
        id: `conn-${++this.connectionCounter}`,
        userId: outcome,
        protocol: ws.protocol === V2 ? V2 : 'v1',
        token: token as string,
        received: [],
        posted: [],
        state: 'open',
        closed: new Promise<number>((resolve) => {
          markClosed = resolve;
        }),
        ws,
      };
      ws.on('close', (code) => {
        connection.state = 'closed';
        markClosed(code);
      });
      ws.on('error', () => {});
      ws.on('message', (data) => this.onFrame(connection, data.toString()));
      this.connections.push(connection);
      this.options.onConnection?.(connection);
      for (const check of [...this.waiters]) check();
    });
  }

  private post(connection: StandInConnection, frame: unknown): void {
    // A half-open connection takes frames and delivers none: the post "succeeds".
    if (connection.state !== 'open') return;
    connection.posted.push(frame);
    connection.ws.send(JSON.stringify(frame));
  }

  private onFrame(connection: StandInConnection, text: string): void {
    let frame: { action?: unknown; after?: unknown; epoch?: unknown };
    try {
      frame = JSON.parse(text);
    } catch {
      frame = {};
    }
    connection.received.push(frame.action === undefined ? text : frame);
    for (const check of [...this.waiters]) check();
    if (connection.state !== 'open') return;
    if (frame.action === 'resume') {
      void this.resume(connection, frame.after, frame.epoch);
      return;
    }
    this.post(connection, this.reply(connection, frame.action));
  }

  /** The answer to any frame other than a resume, as the v2 `$default` route gives it. */
  private reply(connection: StandInConnection, action: unknown): object {
    switch (action) {
      case undefined:
        return { type: 'error', code: 'MISSING_ACTION', message: 'message has no "action"' };
      case 'ping':
        return { type: 'pong' };
      case 'whoami':
        return { type: 'whoami', userId: connection.userId, connectionId: connection.id };
      default:
        return {
          type: 'error',
          code: 'UNKNOWN_ACTION',
          message: `unknown action ${JSON.stringify(action)}`,
        };
    }
  }

  private async resume(connection: StandInConnection, after: unknown, epoch: unknown) {
    const error = (code: string, message: string) =>
      this.post(connection, { type: 'error', code, message });
    const injected = this.failResumesWith.shift();
    if (injected) return error(injected, 'injected by the test');
    if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) {
      return error('INVALID_RESUME', `after must be a non-negative integer, got ${after}`);
    }
    if (epoch !== undefined && typeof epoch !== 'string') {
      return error('INVALID_RESUME', 'epoch must be a string');
    }
    const log = this.logOf(connection.userId);
    // The snapshot the resume is served from: later sends go out live.
    const { last, expiredThrough } = log;
    const currentEpoch = log.epoch;
    let from = after;
    let truncated = false;
    if (epoch !== undefined && epoch !== currentEpoch) {
      // An old sequence: replay the current one from its start.
      from = 0;
      truncated = true;
    } else if (after > last) {
      return error('INVALID_RESUME', `after ${after} is beyond the last seq ${last}`);
    }
    if (expiredThrough > from) truncated = true;
    const first = Math.max(from, expiredThrough) + 1;
    const lastOfPage = Math.min(last, first + PAGE_SIZE - 1);
    for (let seq = first; seq <= lastOfPage; seq++) {
      await this.options.beforeReplayFrame?.({ connection, index: seq - first, seq });
      if (connection.state === 'closed') return;
      this.post(connection, {
        type: 'message',
        seq,
        epoch: currentEpoch,
        message: log.messages[seq - 1],
      });
    }
    this.options.beforeResumed?.(connection);
    if (this.loseResumedFrames > 0) {
      this.loseResumedFrames--;
      return;
    }
    this.post(connection, { type: 'resumed', epoch: currentEpoch, after: from, last, truncated });
  }
}
