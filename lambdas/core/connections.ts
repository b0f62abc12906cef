import { MissingIdentityError } from './errors';
import { type AuthorizerContext, authorizedUserId } from './identity';
import type { ConnectionRecord, ConnectionStore, Log } from './ports';

/** What `$connect` and `$disconnect` know about the connection (from `requestContext`). */
export interface ConnectionEvent {
  connectionId: string;
  /** Epoch milliseconds, set by API Gateway when the handshake arrived. */
  connectedAt?: number;
  authorizer?: AuthorizerContext;
}

export interface ConnectionDependencies {
  store: ConnectionStore;
  log: Log;
  /** Row lifetime. API Gateway closes every connection after 2 hours (7,200 s). */
  ttlSeconds: number;
  now?: () => number;
}

/**
 * `$connect`: stores the mapping from the authorized user to this connection, one write.
 * Throws `MissingIdentityError` without an authorizer context and `StoreUnavailableError` if
 * DynamoDB fails; either way nothing was written and the handshake must be refused.
 *
 * @example
 * await registerConnection({ connectionId: 'BFaT_fALIAMCKug=', connectedAt: Date.now(),
 *   authorizer: { principalId: '42', userId: '42' } }, { store, log, ttlSeconds: 7200 });
 */
export async function registerConnection(
  event: ConnectionEvent,
  { store, log, ttlSeconds, now = Date.now }: ConnectionDependencies,
): Promise<ConnectionRecord> {
  const userId = authorizedUserId(event.authorizer);
  const connectedAt = event.connectedAt ?? now();
  const record: ConnectionRecord = {
    userId,
    connectionId: event.connectionId,
    connectedAt,
    expiresAt: Math.floor(connectedAt / 1000) + ttlSeconds,
  };
  await store.putConnection(record);
  log.info('connected', { userId, connectionId: event.connectionId });
  return record;
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
