/**
 * A property of `TripSyncRealtimeProps` (or `TripSyncRealtimeStackProps`) has an invalid value,
 * or two properties cannot work together. Thrown at synth, before anything is built.
 *
 * @example
 * try {
 *   new TripSyncRealtime(stack, 'Realtime', { sendTimeoutSeconds: 3, postTimeoutMs: 3000 });
 * } catch (error) {
 *   if (error instanceof TripSyncRealtimePropsError) console.error(error.propName, error.relatedPropName);
 *   // postTimeoutMs sendTimeoutSeconds
 * }
 */
export class TripSyncRealtimePropsError extends Error {
  constructor(
    /** The property at fault. */
    readonly propName: string,
    message: string,
    /** The other property of a combination that cannot work, when there is one. */
    readonly relatedPropName?: string,
  ) {
    super(`TripSyncRealtime: ${propName} ${message}`);
    this.name = 'TripSyncRealtimePropsError';
  }
}
