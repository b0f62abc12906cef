import { ConnectionLimitExceededError, MissingIdentityError } from './errors';
import { type AuthorizerContext, authorizedUserId } from './identity';
import type {
  ClientProtocol,
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
   * Read the live rows themselves, not only their number (presence-change events tell a first
   * connection from them). The same one Query either way; a count returns no items, which
   * matters for a user holding many connections.
   */
  readLiveRows?: boolean;
}

/** A connection `$connect` admitted, and the user's live connections as its cap read them. */
export interface RegisteredConnection {
  record: ConnectionRecord;
  /** How many live connections the user holds, this one included. */
  liveCount: number;
  /**
   * With `readLiveRows`: the user's live connections, this one included, read right after its
   * row was written.
   */
  live?: LiveConnection[];
  /** When the live rows were read (or counted), epoch milliseconds. */
  readAt: number;
}

/**
 * `$connect`: stores the mapping from the authorized user to this connection, with the
 * protocol it speaks, then counts the user's live rows with one strongly consistent Query. Over
 * `maxConnectionsPerUser`, it deletes the row it wrote and throws `ConnectionLimitExceededError`
 * (the edge answers 429). With `readLiveRows` the same Query returns the rows, which come back
 * with the record: presence-change events tell a user's first connection from them, with no
 * read of their own.
 *
 * Writing before counting keeps the cap exact from above without a transaction: of any set of
 * connects that overlap, the one whose count is sent last sees every row the others wrote
 * (each put was acknowledged before its own count was sent), so it cannot be admitted beyond
 * the cap. Connects that overlap may all see each other and all be refused; the cap is never
 * exceeded. Two requests per admitted connect, three per refused one.
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
  await store.putConnection(record);
  let live: LiveConnection[] | undefined;
  let liveCount: number;
  const readAt = now();
  const nowSeconds = Math.floor(readAt / 1000);
  try {
    if (readLiveRows) {
      live = await store.listConnections(userId, nowSeconds);
      liveCount = live.length;
    } else {
      liveCount = await store.countLiveConnections(userId, nowSeconds);
    }
  } catch (error) {
    await removeRefusedRow(store, log, record);
    throw error;
  }
  if (liveCount > maxConnectionsPerUser) {
    await removeRefusedRow(store, log, record);
    throw new ConnectionLimitExceededError(userId, liveCount, maxConnectionsPerUser);
  }
  log.info('connected', { userId, connectionId: event.connectionId, protocol: record.protocol });
  return { record, liveCount, ...(live && { live }), readAt };
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
 * `$disconnect`: removes the mapping, one write; removing a row that is already gone is fine.
 * Returns the connection's owner, or undefined when no row names one.
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
