/** A handler module that cannot load: its configuration is checked at import, as ours are. */
class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

if (process.env.PROBE_BROKEN !== 'no')
  throw new ConfigError('PROBE_SETTING: is required but not set');

export function handler() {
  return 'loaded';
}
