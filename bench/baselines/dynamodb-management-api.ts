import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Cold-start baseline of resume: a bare DynamoDB DocumentClient and a bare Management API
 * client built at import. Bundled by CDK exactly like the real handlers.
 */
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const management = new ApiGatewayManagementApiClient({
  endpoint: process.env.CONNECTIONS_ENDPOINT,
});

export async function handler(): Promise<string> {
  return typeof documents.send + typeof management.send;
}
