import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Cold-start baseline of send: a bare DynamoDB DocumentClient, a bare Management API client and
 * a bare Lambda client (send invokes itself for the shards of a large fan-out) built at import.
 * Bundled by CDK exactly like the real handlers.
 */
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const management = new ApiGatewayManagementApiClient({
  endpoint: process.env.CONNECTIONS_ENDPOINT,
});
const lambda = new LambdaClient({});

export async function handler(): Promise<string> {
  return typeof documents.send + typeof management.send + typeof lambda.send;
}
