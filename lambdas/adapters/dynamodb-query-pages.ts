import {
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';

/**
 * Every page of one Query, following `LastEvaluatedKey` (a page ends at 1 MB read, or at its
 * `Limit`). `send` makes each page's request: the adapters pass their own, which names the store
 * in its errors. Stopping the iteration early sends no further request.
 *
 * @example
 * let count = 0;
 * for await (const page of queryPages({ TableName, KeyConditionExpression, Select: 'COUNT' }, send)) {
 *   count += page.Count ?? 0;
 * }
 */
export async function* queryPages(
  input: QueryCommandInput,
  send: (command: QueryCommand) => Promise<QueryCommandOutput>,
): AsyncGenerator<QueryCommandOutput> {
  let startKey = input.ExclusiveStartKey;
  do {
    const page = await send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    yield page;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
