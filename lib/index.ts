/**
 * The TripSync realtime backend as a CDK library: the construct, the deployable stack, their
 * props and the error their validation throws.
 *
 * @example
 * import { TripSyncRealtime } from './lib';
 * const realtime = new TripSyncRealtime(this, 'Realtime', { stageName: 'live' });
 * realtime.grantSend(bookingService);
 */
export { TripSyncRealtimePropsError } from './errors';
export { RealtimeMonitoring } from './monitoring';
export {
  type RealtimeLogLevel,
  TRIPSYNC_REALTIME_DEFAULTS,
  type TripSyncAlarmThresholds,
  type TripSyncRealtimeProps,
} from './props';
export {
  TOKEN_IDENTITY_SOURCE,
  TripSyncRealtime,
  type TripSyncRealtimeFunctions,
} from './tripsync-realtime';
export { TripSyncRealtimeStack, type TripSyncRealtimeStackProps } from './tripsync-realtime-stack';
