import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting } from './env';

/** What `$connect` enforces beyond writing the row. */
export interface ConnectConfig {
  /** `MAX_CONNECTIONS_PER_USER`: live connections one user may hold; the next gets 429. */
  maxConnectionsPerUser: number;
}

/**
 * Reads the `$connect` function's own settings once, at cold start: `MAX_CONNECTIONS_PER_USER`
 * (20, from 1 to 100,000; see `lambdas/shared/limits.ts`).
 *
 * @example
 * readConnectConfig({ MAX_CONNECTIONS_PER_USER: '5' }); // { maxConnectionsPerUser: 5 }
 */
export function readConnectConfig(env: Env): ConnectConfig {
  return { maxConnectionsPerUser: integerSetting(env, SETTINGS.maxConnectionsPerUser) };
}
