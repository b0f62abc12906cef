import { EventBridgePresencePublisher } from '../adapters/eventbridge-presence-publisher';
import type { PresenceEventsConfig } from '../config/presence-events';
import type { PresencePublisher } from '../core/ports';
import type { PresenceChangeDetail } from '../shared/eventbridge';

/**
 * Defined `false` (an esbuild `define`) in the connect and disconnect bundles of a deployment
 * without presence events, which then leave the EventBridge client out; undefined everywhere
 * else (the local stack, the tests).
 */
declare const TRIPSYNC_BUNDLE_EVENTBRIDGE: boolean | undefined;

/**
 * The presence-change publisher of connect and disconnect, or undefined when presence events
 * are off. The EventBridge client is imported on the first event, not at cold start.
 *
 * @example
 * const publisher = createPresencePublisher(readPresenceEventsConfig(process.env));
 */
export function createPresencePublisher(
  config: PresenceEventsConfig | undefined,
): PresencePublisher | undefined {
  if (config === undefined) return undefined;
  let publisher: Promise<PresencePublisher> | undefined;
  return {
    async publish(detail: PresenceChangeDetail) {
      publisher ??= load(config).catch((error: unknown) => {
        publisher = undefined; // loaded again on the next event
        throw error;
      });
      await (await publisher).publish(detail);
    },
  };
}

function load(config: PresenceEventsConfig): Promise<PresencePublisher> {
  // A constant once bundled: esbuild drops the branch not taken, and with it the client.
  return typeof TRIPSYNC_BUNDLE_EVENTBRIDGE === 'boolean' && !TRIPSYNC_BUNDLE_EVENTBRIDGE
    ? Promise.reject(
        new Error(
          'PRESENCE_EVENT_BUS is set, but this function was deployed without presence events and its bundle has no EventBridge client',
        ),
      )
    : loadEventBridgePublisher(config);
}

async function loadEventBridgePublisher(config: PresenceEventsConfig): Promise<PresencePublisher> {
  const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
  const client = new EventBridgeClient({ endpoint: config.eventsEndpoint, maxAttempts: 3 });
  return new EventBridgePresencePublisher(client, PutEventsCommand, config.eventBusName);
}
