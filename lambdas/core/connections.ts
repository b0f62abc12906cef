import { ConnectionLimitExceededError, MissingIdentityError } from './errors';
import { type AuthorizerContext, authorizedUserId } from './identity';
import type {
  ClientProtocol,
  ConnectionCount,
  ConnectionRecord,
  ConnectionStore,
  LiveConnection,
  Log,
} from './ports';

/** What `$connect` and `$disconnect` know about the connection (from `requestContext`). */
export interface ConnectionEvent {
  connectionId: string;
  /** Epoch milliseconds, set by API Gateway when the handshake arrived. */
  connectedAt?: number;
  authorizer?: AuthorizerContext;
  /** On `$connect`: the protocol answered to the client (`chosenProtocol`). Absent: v1. */
  protocol?: ClientProtocol;
}

export interface ConnectionDependencies {
  store: ConnectionStore;
  log: Log;
  /** Row lifetime. API Gateway closes every connection after 2 hours (7,200 s). */
  ttlSeconds: number;
  now?: () => number;
}

/** What `$connect` needs on top of what both lifecycle functions share. */
export interface ConnectDependencies extends ConnectionDependencies {
  /** Live connections one user may hold (`MAX_CONNECTIONS_PER_USER`). */
  maxConnectionsPerUser: number;
  /**
   * Read the live rows themselves on every connect (presence-change events tell a first
   * connection from them), and check the cap with their number. Without it, the user's
   * counter decides, and the rows are counted only when it is over the cap.
   */
  readLiveRows?: boolean;
}

/** A connection `$connect` admitted, and the user's connections as its cap saw them. */
export interface RegisteredConnection {
  record: ConnectionRecord;
  /**
   * How many connections the user holds, this one included: the live rows when they were read
   * or counted, otherwise the user's counter (which may still count rows that expired).
   */
  liveCount: number;
  /**
   * With `readLiveRows`: the user's live connections, this one included, read right after its
   * row was written.
   */
  live?: LiveConnection[];
  /** When the live rows were read (or the counter written), epoch milliseconds. */
  readAt: number;
}

/**
 * `$connect`: stores the mapping from the authorized user to this connection, with the
 * protocol it speaks, and adds it to the user's counter (`store.putConnection`: two writes,
 * the counter's new value back). At or under `maxConnectionsPerUser`, the counter admits the
 * connection alone. Over it, the counter may be counting rows that expired without a
 * `$disconnect`, so the user's live rows are counted (one strongly consistent Query), and that
 * count decides: over the cap, the row is deleted again (which takes it off the counter) and
 * `ConnectionLimitExceededError` is thrown (the edge answers 429); at or under it, the
 * connection is admitted and the counter set to the count, unless the counter moved since this
 * connect's write (`store.repairConnectionCount`). With `readLiveRows` the rows themselves are
 * read on every connect, after the counter's write, and their number is the count; they come
 * back with the record: presence-change events tell a user's first connection from them, with
 * no read of their own.
 *
 * Never over the cap, without a transaction. The counter's writes are atomic and serialised,
 * and each row is put before it is added: of the connections held at any moment, take the one
 * decided last. Decided by the counter, its increment came after every other's, so the counter
 * held them all; decided by a count, that count followed its own increment and so every
 * other's put. Either way it saw them all, and was refused if they were too many. So of
 * connects that overlap, at most the cap less the connections already held are admitted; with
 * a count, overlapping connects may all be refused although one of them would have fit (the
 * client's retry gets in).
 *
 * Requests: 2 per connect the counter admits (3 with `readLiveRows`, the Query). Over the
 * counter: the count (unless the rows were read), then 1 to repair the counter (4 for an
 * admitted connect), or 2 to delete a refused one's row and decrement (5).
 *
 * The counter errs high, which costs a count, never a slot: an expired row is never taken off
 * it, and a failed increment deletes its row without a decrement. One race makes it err low: a
 * repair whose count left out a row that was deleted before it but is taken off the counter
 * after it (a `$disconnect`, a 410's cleanup or a refused connect between its delete and its
 * decrement; or a row just past its `expiresAt` whose `$disconnect` follows the count). A put
 * that failed yet landed leaves a row the counter missed, which a send's 410 may later take
 * off. Each admits one connection over the cap, until a count admits a connect over the
 * counter and sets it right, or until the user's connections are all gone.
 *
 * Throws `MissingIdentityError` without an authorizer context and `StoreUnavailableError` if
 * DynamoDB fails; either way the handshake must be refused, and the row is removed when it
 * can be (a row left behind expires by TTL, or goes on the first send's 410).
 *
 * @example
 * const { record, live } = await registerConnection({ connectionId: 'BFaT_fALIAMCKug=',
 *   connectedAt: Date.now(), authorizer: { principalId: '42', userId: '42' } },
 *   { store, log, ttlSeconds: 7200, maxConnectionsPerUser: 20 });
 */
export async function registerConnection(
  event: ConnectionEvent,
  {
    store,
    log,
    ttlSeconds,
    maxConnectionsPerUser,
    readLiveRows = false,
    now = Date.now,
  }: ConnectDependencies,
): Promise<RegisteredConnection> {
  const userId = authorizedUserId(event.authorizer);
  const connectedAt = event.connectedAt ?? now();
  const record: ConnectionRecord = {
    userId,
    connectionId: event.connectionId,
    connectedAt,
    expiresAt: Math.floor(connectedAt / 1000) + ttlSeconds,
    protocol: event.protocol ?? 'v1',
  };
  const counted = await store.putConnection(record);
  const overCounter = counted.connections > maxConnectionsPerUser;
  let live: LiveConnection[] | undefined;
  // The user's live rows, counted after the counter's write: only when the counter is over
  // the cap, or when the rows are read anyway.
  let exact: number | undefined;
  const readAt = now();
  const nowSeconds = Math.floor(readAt / 1000);
  try {
    if (readLiveRows) {
      live = await store.listConnections(userId, nowSeconds);
      exact = live.length;
    } else if (overCounter) {
      exact = await store.countLiveConnections(userId, nowSeconds);
    }
  } catch (error) {
    await removeRefusedRow(store, log, record);
    throw error;
  }
  const liveCount = exact ?? counted.connections;
  if (liveCount > maxConnectionsPerUser) {
    await removeRefusedRow(store, log, record);
    throw new ConnectionLimitExceededError(userId, liveCount, maxConnectionsPerUser);
  }
  // Over the cap by the counter, not by the rows: it counts rows that are gone.
  if (overCounter && exact !== undefined) await repairCount(store, log, userId, counted, exact);
  log.info('connected', { userId, connectionId: event.connectionId, protocol: record.protocol });
  return { record, liveCount, ...(live && { live }), readAt };
}

/**
 * Sets the counter to the live rows counted (this connection's included), unless it moved
 * since this connect's increment (then the count may have missed what moved it). A failure is
 * only logged: the counter stays over the cap, and the next connect counts again.
 */
async function repairCount(
  store: ConnectionStore,
  log: Log,
  userId: string,
  seen: ConnectionCount,
  live: number,
) {
  try {
    if (await store.repairConnectionCount(userId, seen, live)) {
      log.info('connection counter set to the live rows', {
        userId,
        counted: seen.connections,
        live,
      });
    }
  } catch (error) {
    log.warn('connection counter not repaired', {
      userId,
      error,
    });
  }
}

/** The handshake is refused, so API Gateway will send no `$disconnect` for it: delete now. */
async function removeRefusedRow(store: ConnectionStore, log: Log, record: ConnectionRecord) {
  try {
    await store.deleteConnection(record.userId, record.connectionId);
  } catch (error) {
    log.error('row of a refused connection left behind; it expires by TTL', {
      userId: record.userId,
      connectionId: record.connectionId,
      error,
    });
  }
}

/**
 * `$disconnect`: removes the mapping and takes it off the user's counter (two writes, a third
 * for the user's last connection, which deletes the counter); removing a row that is already
 * gone is fine, and one write. Returns the connection's owner, or undefined when no row names
 * one.
 * AWS delivers `$disconnect` on a best-effort basis, so nothing relies on this alone: rows
 * also expire by TTL and are removed when a send gets 410.
 *
 * @example
 * await unregisterConnection({ connectionId: 'BFaT_fALIAMCKug=', authorizer: { userId: '42' } },
 *   { store, log, ttlSeconds: 7200 });
 */
export async function unregisterConnection(
  event: ConnectionEvent,
  { store, log }: ConnectionDependencies,
): Promise<string | undefined> {
  const { connectionId } = event;
  let userId: string | undefined;
  try {
    userId = authorizedUserId(event.authorizer);
  } catch (error) {
    if (!(error instanceof MissingIdentityError)) throw error;
    log.warn('disconnect without authorizer context; looking up the owner', { connectionId });
    userId = await store.findUserId(connectionId);
    if (userId === undefined) {
      log.info('disconnected connection had no row', { connectionId });
      return undefined;
    }
  }
  await store.deleteConnection(userId, connectionId);
  log.info('disconnected', { userId, connectionId });
  return userId;
}
