import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting } from './env';
import { readSendConfig, type SendConfig } from './send';

/**
 * How the resume function posts a replay: the Management API endpoint and post settings of
 * `send` (`CONNECTIONS_ENDPOINT`, `POST_TIMEOUT_MS`, `POST_MAX_ATTEMPTS`, the backoff), with
 * `REPLAY_CONCURRENCY` (8) posts in flight to its one connection.
 *
 * @example
 * readResumeConfig({ CONNECTIONS_ENDPOINT: 'http://127.0.0.1:3001' }).fanOut.concurrency; // 8
 */
export function readResumeConfig(env: Env): SendConfig {
  const send = readSendConfig(env);
  return {
    ...send,
    fanOut: { ...send.fanOut, concurrency: integerSetting(env, SETTINGS.replayConcurrency) },
  };
}
