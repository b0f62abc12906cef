// No imports on purpose: the CDK app and the local stack read this without loading the SDK.

/**
 * The connection table's design, shared by the DynamoDB adapter (`lambdas/adapters/`), the CDK
 * construct and the local stack, so that the deployed table, the local table and the code that
 * reads and writes them cannot drift apart.
 *
 * - Partition key `userId`, sort key `connectionId`: a user's connections are one partition,
 *   read with one strongly consistent Query; each tab or device is its own row.
 * - GSI `byConnectionId` (the keys and `protocol`): finds a connection's owner and protocol when
 *   only the connection id is known (a `connectionId` send, a `$disconnect` without authorizer
 *   context).
 * - `expiresAt` (epoch seconds) is the TTL attribute; `connectedAt` (epoch milliseconds) is
 *   when API Gateway accepted the connection; `protocol` is `tripsync.v2` for a protocol v2
 *   connection (absent for v1).
 * - `resumeBucketAt` (epoch milliseconds): when the connection's resume bucket is full again
 *   (the resume function's rate limit; absent until its first resume).
 * - One counter item per user who holds connections, in the user's partition under the sort
 *   key `#count#{userId}` (see {@link counterSortKey}): `connections` (how many rows were
 *   added and not yet removed: `$connect`'s cap reads it instead of counting the rows),
 *   `changes` (bumped by every write to it, so that a repair applies only if nothing changed
 *   since it was read) and `expiresAt` (an hour after the last counted row expires). Every
 *   connection id sorts after it (ids are `[A-Za-z0-9+/=_-]`, the lowest `+`, 0x2B; `#` is
 *   0x23), so a user's rows are the key range `connectionId > #count#{userId}`. The user id is
 *   part of the key because the `byConnectionId` index is keyed by the sort key: one key shared
 *   by every counter would be one hot index partition.
 *
 * @example
 * const key = { [CONNECTION_TABLE_SCHEMA.partitionKey]: '42', [CONNECTION_TABLE_SCHEMA.sortKey]: 'BFaT_fALIAMCKug=' };
 */
export const CONNECTION_TABLE_SCHEMA = {
  partitionKey: 'userId',
  sortKey: 'connectionId',
  connectionIdIndex: 'byConnectionId',
  ttlAttribute: 'expiresAt',
  connectedAtAttribute: 'connectedAt',
  protocolAttribute: 'protocol',
  resumeBucketAttribute: 'resumeBucketAt',
  /** Attributes the `byConnectionId` index projects besides the keys. */
  connectionIdIndexAttributes: ['protocol'],
  /** The sort key of a user's counter item is this, then the user id. */
  counterSortKeyPrefix: '#count#',
  /** The counter item's count of connections (a number). */
  counterAttribute: 'connections',
  /** The counter item's number of writes, for conditional repairs. */
  counterChangesAttribute: 'changes',
  /**
   * How long the counter item outlives the last row it counted: rows whose `$disconnect` was
   * lost expire uncounted, and so, once the user has gone, does their counter.
   */
  counterExpiryMarginSeconds: 3600,
} as const;

/**
 * The sort key of a user's counter item: never a connection id, and below every one of them.
 *
 * @example
 * counterSortKey('42'); // '#count#42'
 */
export function counterSortKey(userId: string): string {
  return `${CONNECTION_TABLE_SCHEMA.counterSortKeyPrefix}${userId}`;
}

/**
 * Whether a sort key is a counter item's rather than a connection's: for readers of the whole
 * table (a Scan in a test or a script).
 *
 * @example
 * isCounterSortKey('#count#42');        // true
 * isCounterSortKey('BFaT_fALIAMCKug='); // false
 */
export function isCounterSortKey(sortKey: string): boolean {
  return sortKey.startsWith(CONNECTION_TABLE_SCHEMA.counterSortKeyPrefix);
}
