import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Cold-start baseline of the queue consumer: a bare DynamoDB DocumentClient, Management API
 * client and SQS client (its dead-letter queue) built at import. Bundled by CDK exactly like
 * the real handlers.
 */
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const management = new ApiGatewayManagementApiClient({
  endpoint: process.env.CONNECTIONS_ENDPOINT,
});
const queue = new SQSClient({});

export async function handler(): Promise<string> {
  return typeof documents.send + typeof management.send + typeof queue.send;
}
