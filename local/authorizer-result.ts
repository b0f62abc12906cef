import { AWS_LIMITS } from '../lambdas/shared/limits';

/** What API Gateway makes of a Lambda authorizer's response. */
export type AuthorizerDecision =
  | { kind: 'allow'; principalId: string; context: Record<string, string | number | boolean> }
  /** An explicit Deny, or no Allow for the method: 403. */
  | { kind: 'deny'; principalId: string }
  /** A response API Gateway cannot use (no principal, no policy, nested context): 500. */
  | { kind: 'invalid'; problem: string };

interface Statement {
  Effect?: unknown;
  Action?: unknown;
  Resource?: unknown;
}

/**
 * Evaluates an authorizer's response for `methodArn` as API Gateway does: an explicit Deny wins,
 * otherwise an Allow whose action and resource match is needed. Context values must be strings,
 * numbers or booleans (API Gateway refuses objects and arrays), and the whole response must fit
 * in 8 KB.
 *
 * @example
 * evaluateAuthorizerResult({ principalId: '42', policyDocument: { Version: '2012-10-17',
 *   Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: arn }] },
 *   context: { userId: '42' } }, arn);
 * // { kind: 'allow', principalId: '42', context: { userId: '42' } }
 */
export function evaluateAuthorizerResult(result: unknown, methodArn: string): AuthorizerDecision {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return { kind: 'invalid', problem: 'the authorizer did not return an object' };
  }
  const size = Buffer.byteLength(JSON.stringify(result), 'utf8');
  if (size > AWS_LIMITS.maxAuthorizerResultBytes) {
    return {
      kind: 'invalid',
      problem: `the authorizer response is ${size} bytes, over API Gateway's 8 KB limit`,
    };
  }
  const { principalId, policyDocument, context } = result as Record<string, unknown>;
  if (typeof principalId !== 'string' || principalId === '') {
    return { kind: 'invalid', problem: 'principalId is missing or not a string' };
  }
  const statements = statementsOf(policyDocument);
  if (statements === undefined) {
    return { kind: 'invalid', problem: 'policyDocument has no Statement' };
  }
  const checkedContext = contextOf(context);
  if (typeof checkedContext === 'string') return { kind: 'invalid', problem: checkedContext };

  const applies = (s: Statement) =>
    anyMatches(s.Action, ['execute-api:Invoke'], matchesAction) &&
    anyMatches(s.Resource, [methodArn], matchesResource);
  if (statements.some((s) => s.Effect === 'Deny' && applies(s))) {
    return { kind: 'deny', principalId };
  }
  if (!statements.some((s) => s.Effect === 'Allow' && applies(s))) {
    return { kind: 'deny', principalId };
  }
  return { kind: 'allow', principalId, context: checkedContext };
}

function statementsOf(policyDocument: unknown): Statement[] | undefined {
  if (typeof policyDocument !== 'object' || policyDocument === null) return undefined;
  const statement = (policyDocument as { Statement?: unknown }).Statement;
  if (Array.isArray(statement)) return statement as Statement[];
  // IAM accepts a single statement object as well as an array.
  if (typeof statement === 'object' && statement !== null) return [statement as Statement];
  return undefined;
}

function contextOf(context: unknown): Record<string, string | number | boolean> | string {
  if (context === undefined || context === null) return {};
  if (typeof context !== 'object' || Array.isArray(context)) return 'context must be an object';
  const checked: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(context)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return `context.${key} must be a string, number or boolean (API Gateway refuses nested values)`;
    }
    checked[key] = value;
  }
  return checked;
}

function anyMatches(
  patterns: unknown,
  values: string[],
  match: (pattern: string, value: string) => boolean,
): boolean {
  const list = typeof patterns === 'string' ? [patterns] : Array.isArray(patterns) ? patterns : [];
  return list.some((p) => typeof p === 'string' && values.some((v) => match(p, v)));
}

function matchesAction(pattern: string, action: string): boolean {
  return wildcard(pattern.toLowerCase(), action.toLowerCase());
}

function matchesResource(pattern: string, arn: string): boolean {
  return wildcard(pattern, arn);
}

/** IAM wildcards: `*` any run of characters, `?` any one character. */
function wildcard(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(value);
}
