import { type Env, optionalString, optionalUrl } from './env';

/** Where connect and disconnect publish presence-change events, when they do. */
export interface PresenceEventsConfig {
  /** `PRESENCE_EVENT_BUS`: the bus's name or ARN (`default`: the account's default bus). */
  eventBusName: string;
  /** `EVENTS_ENDPOINT`: set locally (the local stack's origin); unset on AWS. */
  eventsEndpoint: string | undefined;
}

/**
 * Reads the presence-event settings once, at cold start: undefined (no events) unless
 * `PRESENCE_EVENT_BUS` is set, which the construct does when its `presenceEvents` prop is on.
 *
 * @example
 * readPresenceEventsConfig({ PRESENCE_EVENT_BUS: 'default' }); // { eventBusName: 'default', eventsEndpoint: undefined }
 * readPresenceEventsConfig({});                               // undefined
 */
export function readPresenceEventsConfig(env: Env): PresenceEventsConfig | undefined {
  const eventBusName = optionalString(env, 'PRESENCE_EVENT_BUS');
  if (eventBusName === undefined) return undefined;
  return { eventBusName, eventsEndpoint: optionalUrl(env, 'EVENTS_ENDPOINT') };
}
