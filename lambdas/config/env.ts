import { ConfigError } from '../core/errors';
import type { IntegerRange } from '../shared/limits';

/** The environment a config module reads: `process.env` in a handler, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A variable that must be set and non-empty. */
export function requiredString(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '')
    throw new ConfigError(name, 'is required but not set');
  return value;
}

/** A variable that may be unset (or empty, which counts as unset). */
export function optionalString(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** An integer variable within [min, max], or `fallback` when unset. */
export function integerInRange(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = optionalString(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      name,
      `must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/**
 * An integer setting of `lambdas/shared/limits.ts`, read from its variable within its range.
 *
 * @example
 * integerSetting({ SEND_CONCURRENCY: '20' }, SETTINGS.sendConcurrency); // 20
 */
export function integerSetting(env: Env, setting: IntegerRange): number {
  return integerInRange(env, setting.env, setting.default, setting.min, setting.max);
}

/** An http(s) URL variable, or undefined when unset. */
export function optionalUrl(env: Env, name: string): string | undefined {
  const raw = optionalString(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http or https URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}
