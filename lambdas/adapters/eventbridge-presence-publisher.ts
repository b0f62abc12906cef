// Types only: the runtime imports the SDK when the first event is put, and hands its command in
// (a dynamic import of this module would not resolve in the local stack's function workers).
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { PresencePublisher } from '../core/ports';
import {
  EVENT_SOURCE,
  PRESENCE_DETAIL_TYPE,
  type PresenceChangeDetail,
} from '../shared/eventbridge';

/**
 * `PresencePublisher` over EventBridge `PutEvents`: one entry, source `tripsync.realtime`,
 * detail type `TripSync Presence Changed`. `PutEvents` answers 200 even when it refuses an
 * entry, so a failed entry is thrown here.
 *
 * @example
 * const publisher = new EventBridgePresencePublisher(new EventBridgeClient({}), PutEventsCommand, 'default');
 * await publisher.publish({ userId: '42', online: true, connections: 1, observedAt: new Date().toISOString() });
 */
export class EventBridgePresencePublisher implements PresencePublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly command: typeof PutEventsCommand,
    private readonly eventBusName: string,
  ) {}

  async publish(detail: PresenceChangeDetail): Promise<void> {
    const result = await this.client.send(
      new this.command({
        Entries: [
          {
            EventBusName: this.eventBusName,
            Source: EVENT_SOURCE,
            DetailType: PRESENCE_DETAIL_TYPE,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    const [entry] = result.Entries ?? [];
    if ((result.FailedEntryCount ?? 0) > 0 || entry?.ErrorCode) {
      throw new Error(`PutEvents refused the event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
    }
  }
}
