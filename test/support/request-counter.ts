import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Counts the DynamoDB operations a client sends, by API name (`Query`, `PutItem`, …), with
 * SDK middleware: measured on the real client, not estimated.
 *
 * @example
 * const counter = countRequests(client);
 * await store.putConnection(row);
 * counter.counts; // { PutItem: 1 }
 */
export function countRequests(client: DynamoDBClient): {
  counts: Record<string, number>;
  total(): number;
  reset(): void;
} {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      // The low-level command behind a DocumentClient call: `QueryCommand` → `Query`.
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'tripsyncRequestCounter' },
  );
  return {
    counts,
    total: () => Object.values(counts).reduce((sum, n) => sum + n, 0),
    reset: () => {
      for (const key of Object.keys(counts)) delete counts[key];
    },
  };
}
