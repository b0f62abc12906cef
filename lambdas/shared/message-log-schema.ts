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
 * - Items with `seq` < 0 are **delivery claims** of queued messages, one per user and queue
 *   message, at a 52-bit hash of the message's delivery key (`sqs:{messageId}`), negated:
 *   `deliveryKey`, `after` (the head's `last` when claimed: the message, once logged, has a
 *   higher seq), `epoch`, `heldUntil` (epoch ms: the claiming invocation's deadline). A message
 *   logged under a claim carries its `deliveryKey` too, so a redelivery finds its seq again.
 *   Reads of messages (`seq` ≥ 1) never meet a claim.
 * - `expiresAt` (epoch seconds) is the TTL attribute of all; reads filter on it too, since
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
  deliveryKeyAttribute: 'deliveryKey',
  claimAfterAttribute: 'after',
  claimHeldUntilAttribute: 'heldUntil',
} as const;
