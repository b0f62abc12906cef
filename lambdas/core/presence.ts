import pLimit from 'p-limit';
import type { PresenceChangeDetail } from '../shared/eventbridge';
import { MAX_PRESENCE_USER_IDS, PRESENCE_QUERY_CONCURRENCY } from '../shared/limits';
import { ValidationError } from './errors';
import { describeType } from './identifiers';
import type { ConnectionStore, LiveConnection, Log, PresencePublisher } from './ports';
import { parseUserIds, printable } from './send-request';

/**
 * What a producer passes to the `presence` function: 1 to 1,000 user ids, normalised like
 * `send`'s (`42` and `"42"` are one user).
 *
 * @example
 * const payload: PresenceQuery = { userIds: ['42', 7] };
 */
export interface PresenceQuery {
  userIds: Array<string | number>;
}

/**
 * Live connections per requested user, keyed by the normalised id; 0 for a user with none.
 *
 * @example
 * { online: { '42': 2, '7': 0 } }
 */
export interface PresenceResult {
  online: Record<string, number>;
}

export interface PresenceDependencies {
  store: ConnectionStore;
  /** Epoch milliseconds; injectable so tests can move time. */
  now?: () => number;
}

/**
 * Validates a presence query. Throws `ValidationError` naming the field at fault.
 *
 * @example
 * parsePresenceQuery({ userIds: ['42', 42, 7] }); // ['42', '7']
 */
export function parsePresenceQuery(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ValidationError(
      'payload',
      `must be a JSON object with userIds, got ${describeType(payload)}`,
    );
  }
  for (const key of Object.keys(payload)) {
    if (key !== 'userIds') {
      throw new ValidationError(`payload.${printable(key)}`, 'unknown field; expected userIds');
    }
  }
  const { userIds } = payload as { userIds?: unknown };
  if (userIds === undefined) throw new ValidationError('userIds', 'is required');
  return parseUserIds(userIds, MAX_PRESENCE_USER_IDS);
}

/**
 * Counts each user's live connections: one strongly consistent Query per user that returns the
 * count alone (a connection whose `$connect` has returned is always counted), rows past their
 * TTL left out. Throws
 * `ValidationError` before any read, `StoreUnavailableError` when a read fails.
 *
 * @example
 * await queryPresence({ userIds: ['42', 7] }, { store });
 * // { online: { '42': 2, '7': 0 } }
 */
export async function queryPresence(
  payload: unknown,
  { store, now = Date.now }: PresenceDependencies,
): Promise<PresenceResult> {
  const userIds = parsePresenceQuery(payload);
  const nowSeconds = Math.floor(now() / 1000);
  const limit = pLimit(PRESENCE_QUERY_CONCURRENCY);
  const counts = await Promise.all(
    userIds.map((userId) => limit(() => store.countLiveConnections(userId, nowSeconds))),
  );
  const online: Record<string, number> = {};
  userIds.forEach((userId, index) => {
    // defineProperty: a user id such as "__proto__" must be a key like any other.
    Object.defineProperty(online, userId, {
      value: counts[index] as number,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  });
  return { online };
}

/** A connection that opened or closed, as `$connect` or `$disconnect` saw it. */
export interface PresenceChange {
  kind: 'connected' | 'disconnected';
  userId: string;
  connectionId: string;
  /**
   * The user's live connections, read after this change was written, when the caller has
   * them: `$connect` read them for its cap. Without them, one Query reads them.
   */
  live?: { connections: LiveConnection[]; readAt: number };
}

export interface PresenceChangeDependencies {
  store: ConnectionStore;
  publisher: PresencePublisher;
  log: Log;
  now?: () => number;
}

/**
 * After a connection opened or closed, publishes a presence-change event when it made the
 * user go online (this is the user's oldest live connection) or offline (no live connection
 * is left). It reads the user's live rows after the change was written (one strongly
 * consistent Query; none on `$connect`, whose cap has just read them), then puts at most one
 * event. Never throws: the connection itself has been recorded; a failure is logged and
 * reported as `failed`.
 *
 * How exact it is: the read follows the write, so every change to or from zero is seen by at
 * least one of the connections involved. Two first connections racing both publish "online"
 * when each reads before the other's row lands; the older one publishes when both see each
 * other (never neither). Two last ones closing at once both see zero (two offline events), and
 * a connect and a disconnect racing each other can both publish. A `$disconnect` that never
 * arrives leaves a row until its TTL or a send's 410 removes it, with no offline event.
 * Consumers keep the latest `observedAt` per user, and ask `presence` for the truth.
 *
 * @example
 * await announcePresenceChange({ kind: 'connected', userId: '42', connectionId: 'BFaT_fALIAMCKug=' },
 *   { store, publisher, log });
 */
export async function announcePresenceChange(
  change: PresenceChange,
  { store, publisher, log, now = Date.now }: PresenceChangeDependencies,
): Promise<{ published: boolean; failed: boolean }> {
  try {
    const { connections: live, readAt: observed } =
      change.live ?? (await readLive(change, store, now));
    const detail: PresenceChangeDetail | undefined =
      change.kind === 'connected'
        ? isOldest(live, change.connectionId)
          ? {
              userId: change.userId,
              online: true,
              connections: live.length,
              observedAt: new Date(observed).toISOString(),
            }
          : undefined
        : live.length === 0
          ? {
              userId: change.userId,
              online: false,
              connections: 0,
              observedAt: new Date(observed).toISOString(),
            }
          : undefined;
    if (detail === undefined) return { published: false, failed: false };
    await publisher.publish(detail);
    log.info('presence changed', { userId: change.userId, online: detail.online });
    return { published: true, failed: false };
  } catch (error) {
    log.error('presence-change event not published', {
      userId: change.userId,
      connectionId: change.connectionId,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return { published: false, failed: true };
  }
}

async function readLive(
  change: PresenceChange,
  store: ConnectionStore,
  now: () => number,
): Promise<{ connections: LiveConnection[]; readAt: number }> {
  const readAt = now();
  return {
    connections: await store.listConnections(change.userId, Math.floor(readAt / 1000)),
    readAt,
  };
}

/** Whether this connection is the user's oldest live one (ties broken by connection id). */
function isOldest(live: LiveConnection[], connectionId: string): boolean {
  const self = live.find((c) => c.connectionId === connectionId);
  if (!self) return false; // already closed again
  return live.every(
    (other) =>
      other.connectionId === connectionId ||
      other.connectedAt > self.connectedAt ||
      (other.connectedAt === self.connectedAt && other.connectionId > connectionId),
  );
}
