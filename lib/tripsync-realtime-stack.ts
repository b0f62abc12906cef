import { CfnOutput, RemovalPolicy, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import { CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { EventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { TripSyncRealtimePropsError } from './errors';
import type { TripSyncRealtimeProps } from './props';
import { TripSyncRealtime } from './tripsync-realtime';

/** Properties of {@link TripSyncRealtimeStack}: the stack's own, the backend's, and two more. */
export interface TripSyncRealtimeStackProps extends StackProps, TripSyncRealtimeProps {
  /**
   * Complete ARN (with its 6-character suffix) of an existing HS256 secret, imported as
   * `jwtSecret`. Give this or `jwtSecret`, not both. A secret encrypted with a customer
   * managed key must be passed as `jwtSecret` with its `encryptionKey` instead.
   *
   * @default - no existing secret
   */
  readonly jwtSecretArn?: string;
  /**
   * Create the role API Gateway uses to write logs and register it in the account's API
   * Gateway settings for this region (`AWS::ApiGateway::Account`). API Gateway refuses a
   * WebSocket stage with access logging until that role is set ("CloudWatch Logs role ARN
   * must be set in account settings to enable logging"). It is one setting per account and
   * region, shared by every API: enable this in one stack only, and only when the account has
   * no such role yet. The role is retained when the stack is deleted, because other APIs may
   * rely on it.
   *
   * @default false
   */
  readonly apiGatewayCloudWatchRole?: boolean;
  /**
   * ARN of an existing SNS topic, imported as `alarmTopic`. Give this or `alarmTopic`, not both.
   *
   * @default - no notification
   */
  readonly alarmTopicArn?: string;
  /**
   * Name of an existing EventBridge bus, imported as `eventBus`. Give this or `eventBus`.
   *
   * @default - the account's default bus
   */
  readonly eventBusName?: string;
}

/** The pattern of a complete Secrets Manager secret ARN: the name ends with `-` and 6 characters. */
const COMPLETE_SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * The deployable TripSync realtime backend: one {@link TripSyncRealtime} and its outputs.
 *
 * @example
 * new TripSyncRealtimeStack(app, 'TripSyncRealtime', { jwtSecretArn: existingSecretArn });
 */
export class TripSyncRealtimeStack extends Stack {
  readonly realtime: TripSyncRealtime;

  constructor(scope: Construct, id: string, props: TripSyncRealtimeStackProps = {}) {
    super(scope, id, props);

    if (props.jwtSecretArn !== undefined && props.jwtSecret !== undefined) {
      throw new TripSyncRealtimePropsError(
        'jwtSecretArn',
        'must not be given together with jwtSecret: pass the existing secret one way',
      );
    }
    if (props.jwtSecretArn !== undefined && props.createJwtSecret === true) {
      throw new TripSyncRealtimePropsError(
        'createJwtSecret',
        'must not be true when jwtSecretArn is given: use the existing secret or create one, not both',
        'jwtSecretArn',
      );
    }
    if (props.jwtSecretArn !== undefined && !Token.isUnresolved(props.jwtSecretArn)) {
      if (!COMPLETE_SECRET_ARN.test(props.jwtSecretArn)) {
        throw new TripSyncRealtimePropsError(
          'jwtSecretArn',
          'must be the complete ARN of a Secrets Manager secret, ending in the name, a hyphen and ' +
            `6 characters (as "aws secretsmanager describe-secret" shows it), received ${JSON.stringify(props.jwtSecretArn)}`,
        );
      }
    }
    const jwtSecret =
      props.jwtSecret ??
      (props.jwtSecretArn !== undefined
        ? Secret.fromSecretCompleteArn(this, 'ImportedJwtSecret', props.jwtSecretArn)
        : undefined);

    for (const [imported, given] of [
      ['alarmTopicArn', 'alarmTopic'],
      ['eventBusName', 'eventBus'],
    ] as const) {
      if (props[imported] !== undefined && props[given] !== undefined) {
        throw new TripSyncRealtimePropsError(
          imported,
          `must not be given together with ${given}: pass it one way`,
          given,
        );
      }
    }
    const alarmTopic =
      props.alarmTopic ??
      (props.alarmTopicArn !== undefined
        ? Topic.fromTopicArn(this, 'ImportedAlarmTopic', props.alarmTopicArn)
        : undefined);
    const eventBus =
      props.eventBus ??
      (props.eventBusName !== undefined
        ? EventBus.fromEventBusName(this, 'ImportedEventBus', props.eventBusName)
        : undefined);

    this.realtime = new TripSyncRealtime(this, 'Realtime', {
      ...props,
      jwtSecret,
      alarmTopic,
      eventBus,
    });

    if (props.apiGatewayCloudWatchRole) {
      const role = new iam.Role(this, 'ApiGatewayCloudWatchRole', {
        assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
        description: 'API Gateway (account setting): writes API access and execution logs',
        managedPolicies: [
          iam.ManagedPolicy.fromAwsManagedPolicyName(
            'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
          ),
        ],
      });
      role.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'AWS documents this managed policy for the account-level API Gateway logging role; ' +
          'API Gateway creates the log groups it writes to, so their names are not known here.',
      });
      const account = new CfnAccount(this, 'ApiGatewayAccount', {
        cloudWatchRoleArn: role.roleArn,
      });
      account.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.realtime.stage.node.addDependency(account);
    }

    new CfnOutput(this, 'WebSocketUrl', {
      description: 'Where clients connect: wss://.../{stage}?token={JWT}',
      value: this.realtime.webSocketUrl,
    });
    new CfnOutput(this, 'ConnectionsEndpoint', {
      description: 'Management API endpoint (POST {endpoint}/@connections/{connectionId})',
      value: this.realtime.connectionsEndpoint,
    });
    new CfnOutput(this, 'SendFunctionName', {
      description: 'Invoke with a SendPayload to notify a user',
      value: this.realtime.sendFunction.functionName,
    });
    new CfnOutput(this, 'SendFunctionArn', {
      description: 'ARN of the send function',
      value: this.realtime.sendFunction.functionArn,
    });
    new CfnOutput(this, 'NotificationQueueUrl', {
      description: 'Send a SendPayload as the message body (SQS SendMessage)',
      value: this.realtime.notificationQueue.queueUrl,
    });
    new CfnOutput(this, 'NotificationQueueArn', {
      description: 'ARN of the notification queue, for IAM: producers need sqs:SendMessage on it',
      value: this.realtime.notificationQueue.queueArn,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'What could not be delivered, and why (see docs/operating.md)',
      value: this.realtime.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'PresenceFunctionName', {
      description: 'Invoke with {"userIds": [...]} to count live connections',
      value: this.realtime.presenceFunction.functionName,
    });
    new CfnOutput(this, 'PresenceFunctionArn', {
      description: 'ARN of the presence function',
      value: this.realtime.presenceFunction.functionArn,
    });
    if (this.realtime.monitoring.dashboard) {
      new CfnOutput(this, 'DashboardName', {
        description: 'The CloudWatch dashboard (see docs/operating.md)',
        value: this.realtime.monitoring.dashboard.dashboardName,
      });
    }
    new CfnOutput(this, 'ConnectionTableName', {
      description: 'DynamoDB table of open connections',
      value: this.realtime.table.tableName,
    });
    new CfnOutput(this, 'MessageLogTableName', {
      description: "DynamoDB table of each user's logged messages (protocol v2 resume)",
      value: this.realtime.messageLogTable.tableName,
    });
    if (this.realtime.jwtSecret) {
      new CfnOutput(this, 'JwtSecretArn', {
        description: 'Secrets Manager secret holding the HS256 key that signs connection tokens',
        value: this.realtime.jwtSecret.secretArn,
      });
    }
  }
}
