/**
 * Notify users by putting an EventBridge event, for services that already publish their events
 * to a bus: a `TripSync Notification` event whose `detail` is a send payload. The construct's rule
 * (prop `notificationRule`) delivers the detail into the notification queue, and from there on it
 * is the queue's path: retries, dead-letter queue.
 *
 *   npx tsx examples/typescript/put-event.ts 42 '{"type":"seat_taken","tripId":"t-1"}'
 *   npx tsx examples/typescript/put-event.ts 42,7 '{"type":"pool_filled"}'      # several users
 *
 * Prints the event id. EventBridge answers 200 even when it refuses an entry, so the entry's
 * error is checked here.
 *
 * Settings, from the environment, with the local stack's values as defaults:
 * - AWS_ENDPOINT_URL: where EventBridge is (default http://127.0.0.1:3001, `npm start`). On AWS,
 *   leave it unset.
 * - AWS_REGION (default us-east-1).
 * - EVENT_BUS_NAME (default "default"): the bus the rule listens on (prop `eventBus`).
 * - EVENT_SOURCE (default "com.tripsync.examples"): who puts the event; any source matches.
 * Credentials come from the usual places; with none configured this signs with placeholders,
 * which the local stack accepts. On AWS the caller needs events:PutEvents on the bus.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:3001';
const region = process.env.AWS_REGION ?? 'us-east-1';
const eventBusName = process.env.EVENT_BUS_NAME ?? 'default';
const source = process.env.EVENT_SOURCE ?? 'com.tripsync.examples';

/** The detail type the construct's rule matches. */
const NOTIFICATION_DETAIL_TYPE = 'TripSync Notification';

/** A send payload: one target and a message. */
type SendPayload = { message: object } & ({ userId: string } | { userIds: string[] });

async function eventsClient(): Promise<EventBridgeClient> {
  const client = new EventBridgeClient({ endpoint, region });
  try {
    await client.config.credentials();
    return client;
  } catch {
    client.destroy();
    return new EventBridgeClient({
      endpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }
}

/**
 * Puts one notification event and returns its id; throws with EventBridge's reason when the
 * entry is refused.
 *
 * @example
 * await putNotification(events, { userId: '42', message: { type: 'driver_near' } });
 */
async function putNotification(events: EventBridgeClient, payload: SendPayload): Promise<string> {
  const result = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: eventBusName,
          Source: source,
          DetailType: NOTIFICATION_DETAIL_TYPE,
          Detail: JSON.stringify(payload),
        },
      ],
    }),
  );
  const [entry] = result.Entries ?? [];
  if ((result.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
    throw new Error(`event refused: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
  }
  return entry.EventId;
}

async function main(args: string[]): Promise<void> {
  if (args.length !== 2) {
    throw new Error("usage: put-event.ts <userId>[,<userId>...] '<message as a JSON object>'");
  }
  const users = (args[0] as string).split(',');
  let message: object;
  try {
    message = JSON.parse(args[1] as string);
  } catch (error) {
    throw new Error(`message: not JSON (${error instanceof Error ? error.message : error})`);
  }
  const events = await eventsClient();
  try {
    const eventId = await putNotification(
      events,
      users.length === 1 ? { userId: users[0] as string, message } : { userIds: users, message },
    );
    process.stdout.write(`${JSON.stringify({ eventId })}\n`);
  } finally {
    events.destroy();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
