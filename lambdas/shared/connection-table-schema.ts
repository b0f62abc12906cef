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
} as const;
