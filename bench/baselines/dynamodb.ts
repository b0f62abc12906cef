import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Cold-start baseline of connect and disconnect: a bare DynamoDB DocumentClient built at
 * import, nothing else. Bundled by CDK exactly like the real handlers.
 */
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export async function handler(): Promise<string> {
  return typeof documents.send;
}
