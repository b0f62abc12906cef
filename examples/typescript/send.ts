/**
 * Notify users from TypeScript with the AWS SDK (another Lambda function, a Node.js service):
 *
 *   npx tsx examples/typescript/send.ts 42 '{"type":"seat_taken","tripId":"t-1"}'
 *   npx tsx examples/typescript/send.ts 42,7 '{"type":"pool_filled"}'    # several users
 *
 * Invokes the send function and prints its result, e.g. {"delivered":1,"stale":0,"failed":0}.
 * A refused payload exits 1 with Lambda's errorType and message.
 *
 * Settings, from the environment, with the local stack's values as defaults:
 * - AWS_ENDPOINT_URL: where Lambda is (default http://127.0.0.1:3001, `npm start`). On AWS, use
 *   the regional endpoint, e.g. https://lambda.eu-west-1.amazonaws.com, or leave `endpoint` out.
 * - AWS_REGION (default us-east-1).
 * - SEND_FUNCTION_NAME (default "send"): on AWS, the stack's SendFunctionName output.
 * Credentials come from the usual places (environment, profile, role). The local stack checks
 * no signature, so with none configured this signs with placeholders.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:3001';
const region = process.env.AWS_REGION ?? 'us-east-1';
const functionName = process.env.SEND_FUNCTION_NAME ?? 'send';

/** What send answers: posts delivered, gone (their rows deleted) and failed after retries. */
interface SendResult {
  delivered: number;
  stale: number;
  failed: number;
  /** For `userIds` only: the same counts per requested user. */
  users?: Record<string, { delivered: number; stale: number; failed: number }>;
}

/** The send function refused the payload or could not read its table; `errorType` says which. */
class SendError extends Error {
  override readonly name = 'SendError';
  constructor(
    /** `ValidationError` (do not retry) or `StoreUnavailableError` (nothing sent: retry). */
    readonly errorType: string,
    message: string,
  ) {
    super(`${errorType}: ${message}`);
  }
}

/**
 * Invokes send with one target and a message, and returns its counts.
 *
 * @example
 * await sendNotification(lambda, { userIds: ['42', 7], message: { type: 'pool_filled' } });
 */
async function sendNotification(
  lambda: LambdaClient,
  payload: { message: object } & ({ userId: string } | { userIds: string[] }),
): Promise<SendResult> {
  const response = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify(payload) }),
  );
  const body = JSON.parse(new TextDecoder().decode(response.Payload));
  if (response.FunctionError) throw new SendError(body.errorType, body.errorMessage);
  return body as SendResult;
}

/** One client per process (per Lambda container), reused by every send. */
async function lambdaClient(): Promise<LambdaClient> {
  const client = new LambdaClient({ endpoint, region });
  try {
    await client.config.credentials();
    return client;
  } catch {
    client.destroy();
    return new LambdaClient({
      endpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }
}

async function main(args: string[]): Promise<void> {
  if (args.length !== 2) {
    throw new Error("usage: send.ts <userId>[,<userId>...] '<message as a JSON object>'");
  }
  const users = (args[0] as string).split(',');
  let message: object;
  try {
    message = JSON.parse(args[1] as string);
  } catch (error) {
    throw new Error(`message: not JSON (${error instanceof Error ? error.message : error})`);
  }
  const lambda = await lambdaClient();
  try {
    const result = await sendNotification(
      lambda,
      users.length === 1 ? { userId: users[0] as string, message } : { userIds: users, message },
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    lambda.destroy();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
