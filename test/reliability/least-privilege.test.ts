import * as iam from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_TABLE_SCHEMA } from '../../lambdas/shared/connection-table-schema';
import { asArray, logicalId, type SynthesizedStack, synthesizeStack } from '../support/cdk-stack';
import { recordFigures } from './report';

// Least privilege, read off the synthesized templates of every auth configuration: no role may
// use a wildcard action, nothing may reach the table or `ManageConnections` through a `*`
// resource, and each function holds exactly the permissions its code calls.

const JWKS = {
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  jwtAudience: 'tripsync-web',
};
const CONFIGURATIONS = {
  'generated HS256 secret': {},
  'existing secret ARN': {
    jwtSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123',
  },
  'JWKS only': JWKS,
  'JWKS and HS256, stage v1': { ...JWKS, createJwtSecret: true, stageName: 'v1' },
  'with the API Gateway CloudWatch role': { apiGatewayCloudWatchRole: true },
  'with the notification rule and presence events': {
    notificationRule: true,
    presenceEvents: true,
  },
} as const;

type Statement = {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
};
interface Policy {
  /** The logical ids of the roles it is attached to. */
  roles: string[];
  statements: Statement[];
}

const synths = new Map<string, SynthesizedStack>();
const tally = {
  configurations: 0,
  policies: 0,
  statements: 0,
  wildcardActions: 0,
  starResourcesOnTableOrConnections: 0,
  starResources: 0,
  notActionOrNotResource: 0,
  /** AWS managed policies attached to any role (their statements are not in the template). */
  awsManagedPolicies: '',
};

beforeAll(() => {
  for (const [name, props] of Object.entries(CONFIGURATIONS)) {
    synths.set(
      name,
      synthesizeStack(props, {
        bundle: false,
        extend: (stack) => {
          const producer = new iam.Role(stack, 'Producer', {
            assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
          });
          stack.realtime.grantSend(producer);
          stack.realtime.grantEnqueue(producer);
          stack.realtime.grantPresence(producer);
        },
      }),
    );
  }
}, 120_000);

/** Every identity policy in a template: AWS::IAM::Policy, ManagedPolicy and inline role policies. */
function policiesOf(synth: SynthesizedStack): Policy[] {
  const resources = synth.template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  const refs = (value: unknown) =>
    asArray((value ?? []) as unknown[]).map((r) => (r as { Ref: string }).Ref);
  const policies: Policy[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    const p = resource.Properties;
    const document = p.PolicyDocument as { Statement: Statement[] } | undefined;
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      policies.push({ roles: refs(p.Roles), statements: document?.Statement ?? [] });
    }
    if (resource.Type === 'AWS::IAM::Role') {
      for (const inline of (p.Policies ?? []) as Array<{
        PolicyDocument: { Statement: Statement[] };
      }>) {
        policies.push({ roles: [id], statements: inline.PolicyDocument.Statement });
      }
    }
  }
  return policies;
}

const touchesTableOrConnections = (actions: string[]) =>
  actions.some((a) => a.startsWith('dynamodb:') || a.startsWith('execute-api:'));

describe.each(Object.keys(CONFIGURATIONS))('%s', (name) => {
  it('has no wildcard action, no * resource, no NotAction or NotResource', () => {
    const synth = synths.get(name) as SynthesizedStack;
    tally.configurations++;
    const findings: string[] = [];
    for (const policy of policiesOf(synth)) {
      tally.policies++;
      for (const statement of policy.statements) {
        tally.statements++;
        const actions = asArray(statement.Action ?? []);
        const resources = asArray((statement.Resource ?? []) as unknown[]);
        if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
          tally.notActionOrNotResource++;
          findings.push(`NotAction/NotResource in ${json(statement)}`);
        }
        for (const action of actions.filter((a) => a.includes('*'))) {
          tally.wildcardActions++;
          findings.push(`wildcard action ${action}`);
        }
        if (resources.includes('*')) {
          tally.starResources++;
          if (touchesTableOrConnections(actions)) tally.starResourcesOnTableOrConnections++;
          findings.push(`* resource for ${actions.join(', ')}`);
        }
      }
    }
    expect(findings).toEqual([]);
    const managed = Object.values(
      synth.template.findResources('AWS::IAM::Role') as Record<
        string,
        { Properties: Record<string, unknown> }
      >,
    ).flatMap((r) => asArray((r.Properties.ManagedPolicyArns ?? []) as unknown[]).map(json));
    // Only API Gateway's account-level logging role, with AWS's policy for exactly that.
    const expected = name === 'with the API Gateway CloudWatch role' ? 1 : 0;
    expect(managed).toHaveLength(expected);
    for (const arn of managed) expect(arn).toContain('AmazonAPIGatewayPushToCloudWatchLogs');
    if (managed.length > 0)
      tally.awsManagedPolicies =
        'AmazonAPIGatewayPushToCloudWatchLogs (API Gateway logging role only)';
  });

  it('gives each function exactly what its code calls, on this table and this API only', () => {
    const synth = synths.get(name) as SynthesizedStack;
    const { realtime } = synth.stack;
    const table = { 'Fn::GetAtt': [logicalId(realtime.table), 'Arn'] };
    const messageLog = { 'Fn::GetAtt': [logicalId(realtime.messageLogTable), 'Arn'] };
    const index = {
      'Fn::Join': ['', [table, `/index/${CONNECTION_TABLE_SCHEMA.connectionIdIndex}`]],
    };
    const api = { Ref: logicalId(realtime.webSocketApi) };
    const stage = realtime.stage.stageName;
    const policies = policiesOf(synth);
    /** For one role: action → resources, logs left out (each function's own log group). */
    const grants = (role: iam.IRole) => {
      const id = logicalId(role);
      const result: Record<string, string[]> = {};
      for (const policy of policies.filter((p) => p.roles.includes(id))) {
        for (const statement of policy.statements) {
          for (const action of asArray(statement.Action ?? [])) {
            if (action.startsWith('logs:')) continue;
            result[action] = [
              ...(result[action] ?? []),
              ...asArray((statement.Resource ?? []) as unknown[]).map(json),
            ].sort();
          }
        }
      }
      return result;
    };
    const fns = realtime.functions;
    const role = (fn: keyof typeof fns) => fns[fn].role as iam.IRole;
    const queue = json({ 'Fn::GetAtt': [logicalId(realtime.notificationQueue), 'Arn'] });
    const deadLetters = json({ 'Fn::GetAtt': [logicalId(realtime.deadLetterQueue), 'Arn'] });
    // With presence events on, connect and disconnect also count the user's rows and put events.
    const presenceEvents = 'presenceEvents' in CONFIGURATIONS[name as keyof typeof CONFIGURATIONS];
    const defaultBus = json({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':events:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':event-bus/default',
        ],
      ],
    });
    const bus = presenceEvents ? { 'events:PutEvents': [defaultBus] } : {};

    // PutItem the row and UpdateItem the user's counter; Query (count) and DeleteItem (a
    // refused row) for the per-user cap. With presence events on, the cap's Query also tells a
    // first connection: only PutEvents more.
    expect(grants(role('connect'))).toEqual({
      'dynamodb:PutItem': [json(table)],
      'dynamodb:UpdateItem': [json(table)],
      'dynamodb:Query': [json(table)],
      'dynamodb:DeleteItem': [json(table)],
      ...bus,
    });
    expect(grants(role('disconnect'))).toEqual({
      'dynamodb:DeleteItem': [json(table)],
      'dynamodb:UpdateItem': [json(table)],
      'dynamodb:Query': presenceEvents ? [json(index), json(table)].sort() : [json(index)],
      ...bus,
    });
    expect(grants(role('default'))).toEqual({});
    expect(grants(role('presence'))).toEqual({ 'dynamodb:Query': [json(table)] });
    const send = grants(role('send'));
    expect(Object.keys(send).sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'execute-api:ManageConnections',
      'lambda:InvokeFunction',
      'sqs:SendMessage',
    ]);
    expect(send['dynamodb:DeleteItem']).toEqual([json(table)]);
    // Itself, for the shards of a large send; no other function may invoke anything.
    expect(send['lambda:InvokeFunction']).toEqual([
      json({ 'Fn::GetAtt': [logicalId(fns.send), 'Arn'] }),
    ]);
    const invokers = (Object.keys(fns) as Array<keyof typeof fns>).filter(
      (fn) => grants(role(fn))['lambda:InvokeFunction'] !== undefined,
    );
    expect(invokers).toEqual(['send']);
    expect(send['dynamodb:Query']).toEqual([json(index), json(table)].sort());
    // The message log: append only (read the head, put the message, move the head).
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem']) {
      expect(send[action]).toEqual([json(messageLog)]);
    }
    // And the connection table: a stale row's user's counter item.
    expect(send['dynamodb:UpdateItem']).toEqual([json(messageLog), json(table)].sort());
    // resume reads the log, and updates only its own connection's row (rate limit).
    const resume = grants(role('resume'));
    expect(Object.keys(resume).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'execute-api:ManageConnections',
    ]);
    expect(resume['dynamodb:GetItem']).toEqual([json(messageLog), json(table)].sort());
    expect(resume['dynamodb:Query']).toEqual([json(messageLog)]);
    expect(resume['dynamodb:UpdateItem']).toEqual([json(table)]);
    // Its `Event` invocations that fail go to the dead-letter queue, and nowhere else.
    expect(send['sqs:SendMessage']).toEqual([deadLetters]);
    // The queue consumer: send's grants but invoking itself (it does not shard), consuming the
    // queue, sending to the DLQ only.
    const consumer = grants(role('sendQueue'));
    const { 'lambda:InvokeFunction': _ownShards, ...sendButShards } = send;
    expect(consumer).toEqual({
      ...sendButShards,
      // Where a redelivered record's message was first logged: a Query of the message log.
      'dynamodb:Query': [json(index), json(messageLog), json(table)].sort(),
      'sqs:ReceiveMessage': [queue],
      'sqs:DeleteMessage': [queue],
      'sqs:ChangeMessageVisibility': [queue],
      'sqs:GetQueueAttributes': [queue],
      'sqs:GetQueueUrl': [queue],
      'sqs:SendMessage': [deadLetters],
    });
    const [connections] = send['execute-api:ManageConnections'] ?? [];
    // arn:{partition}:execute-api:{region}:{account}:{this API}/{stage}/POST/@connections/*
    expect(connections).toContain(json(api));
    expect(connections).toMatch(new RegExp(`"/${stage}/POST/@connections/\\*"\\]\\]\\}$`));
    const authorizer = Object.keys(grants(role('authorizer')));
    expect(
      authorizer.filter((a) => !/^(secretsmanager:GetSecretValue|kms:Decrypt)$/.test(a)),
    ).toEqual([]);
    // Only send and its queue consumer post to any connection. The one client frame that
    // reaches a role that can post is resume's, and its code posts to the frame's own
    // connection only (test/e2e/resume). Producers invoke or feed the others with IAM.
    const posters = (Object.keys(fns) as Array<keyof typeof fns>).filter(
      (fn) => grants(role(fn))['execute-api:ManageConnections'] !== undefined,
    );
    expect(posters).toEqual(['send', 'sendQueue', 'resume']);
    for (const poster of posters) {
      const [connections] = grants(role(poster))['execute-api:ManageConnections'] ?? [];
      expect(connections).toMatch(new RegExp(`"/${stage}/POST/@connections/\\*"\\]\\]\\}$`));
    }
  });

  it('expires rows and logged messages with TTL on expiresAt', () => {
    const synth = synths.get(name) as SynthesizedStack;
    const tables = Object.values(synth.template.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(2);
    for (const t of tables) {
      expect(t.Properties.TimeToLiveSpecification).toEqual({
        AttributeName: CONNECTION_TABLE_SCHEMA.ttlAttribute,
        Enabled: true,
      });
    }
  });
});

describe('figures', () => {
  it('records what was checked', () => {
    recordFigures('leastPrivilege', tally);
    expect(tally.configurations).toBe(Object.keys(CONFIGURATIONS).length);
  });
});

function json(value: unknown): string {
  return JSON.stringify(value);
}
