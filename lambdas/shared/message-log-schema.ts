// No imports on purpose: the CDK app and the local stack read this without loading the SDK.

/**
 * The message log's design, shared by its DynamoDB adapter (`lambdas/adapters/`), the CDK
 * construct and the local stack: one table, a partition per user.
 *
 * - Partition key `userId` (S), sort key `seq` (N). Items with `seq` ≥ 1 are the user's logged
 *   messages: `epoch`, `message` (the JSON text exactly as sent), `loggedAt` (epoch ms).
 * - The **head** is the item with `seq` 0: `last` (the highest published seq) and `epoch` (the
 *   sequence's opaque id). It expires `retention` after the newest message does, so the
 *   sequence only restarts (in a new epoch) once every message of the old one has expired.
 * - `expiresAt` (epoch seconds) is the TTL attribute of both; reads filter on it too, since
 *   DynamoDB deletes expired items lazily.
 *
 * @example
 * const headKey = { [MESSAGE_LOG_SCHEMA.partitionKey]: '42', [MESSAGE_LOG_SCHEMA.sortKey]: MESSAGE_LOG_SCHEMA.headSeq };
 */
export const MESSAGE_LOG_SCHEMA = {
  partitionKey: 'userId',
  sortKey: 'seq',
  ttlAttribute: 'expiresAt',
  /** The sort key of a user's head item. */
  headSeq: 0,
  lastAttribute: 'last',
  epochAttribute: 'epoch',
  messageAttribute: 'message',
  loggedAtAttribute: 'loggedAt',
} as const;
