// No imports on purpose: the functions, the CDK construct (its rule) and the local stack (its
// event bus) all read this module.

/**
 * The backend's EventBridge contract, in one place:
 * - producers put `TripSync Notification` events whose `detail` is a send payload; the
 *   construct's rule (prop `notificationRule`) delivers the `detail` alone into the notification
 *   queue, so the queue's consumer sees a send payload whichever way it came;
 * - with `presenceEvents` on, connect and disconnect put `TripSync Presence Changed` events.
 *
 * @example
 * // A producer (AWS SDK v3)
 * await events.send(new PutEventsCommand({ Entries: [{
 *   Source: 'com.tripsync.bookings', DetailType: NOTIFICATION_DETAIL_TYPE,
 *   Detail: JSON.stringify({ userId: '42', message: { type: 'seat_taken' } }) }] }));
 */
export const NOTIFICATION_DETAIL_TYPE = 'TripSync Notification';

/** The detail type of presence-change events (`detail`: {@link PresenceChangeDetail}). */
export const PRESENCE_DETAIL_TYPE = 'TripSync Presence Changed';

/** The `source` of the events this backend puts. */
export const EVENT_SOURCE = 'tripsync.realtime';

/** The bus an account has from the start, used when no other bus is given. */
export const DEFAULT_EVENT_BUS_NAME = 'default';

/**
 * The `detail` of a presence-change event. `online: true` when a user's first live connection
 * opened, `false` when the last one closed; `connections` is what the function counted right
 * after, and `observedAt` (ISO 8601) when: EventBridge does not keep events in order, so a
 * consumer keeps the latest `observedAt` per user.
 *
 * @example
 * { "userId": "42", "online": true, "connections": 1, "observedAt": "2025-06-01T12:00:00.000Z" }
 */
export interface PresenceChangeDetail {
  userId: string;
  online: boolean;
  connections: number;
  observedAt: string;
}
