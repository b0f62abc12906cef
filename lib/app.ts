import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from './context';
import { TripSyncRealtimeStack } from './tripsync-realtime-stack';

// `cdk synth` / `cdk deploy` entry (see cdk.json). Settings come from context, e.g.
// `npx cdk deploy -c jwtSecretArn=arn:aws:secretsmanager:...:secret:tripsync-jwt-AbCdEf`.
const app = new App();
const stackName: unknown = app.node.tryGetContext('stackName') ?? 'TripSyncRealtime';
if (typeof stackName !== 'string') {
  throw new Error(`context stackName must be a string, received ${JSON.stringify(stackName)}`);
}

new TripSyncRealtimeStack(app, stackName, {
  description: 'TripSync realtime: WebSocket notifications (API Gateway, Lambda, DynamoDB)',
  ...stackPropsFromContext(app.node),
});

// Every finding not acknowledged in code (with its reason) fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
