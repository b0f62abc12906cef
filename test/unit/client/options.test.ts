import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { DEFAULTS, TripSyncClient } from '../../../client/src/index';
import { resolveOptions } from '../../../client/src/options';

const valid = {
  url: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
  token: () => 't',
  WebSocket,
};

describe('client options', () => {
  it('fills in the defaults', () => {
    expect(resolveOptions(valid)).toEqual({ ...DEFAULTS, ...valid });
  });

  it('keeps a ping well inside API Gateway’s 10-minute idle timeout', () => {
    expect(DEFAULTS.pingIntervalMs + DEFAULTS.pongTimeoutMs).toBeLessThan(10 * 60_000);
  });

  it.each([
    [
      { url: 'https://x.example' },
      'TripSyncClient: url must start with wss:// or ws://, got "https://x.example"',
    ],
    [{ token: 'abc' }, 'TripSyncClient: token must be a function returning the token'],
    [
      { maxRefusals: 0 },
      'TripSyncClient: maxRefusals must be an integer from 1 (Infinity: never give up), got 0',
    ],
    [
      { maxRefusals: 2.5 },
      'TripSyncClient: maxRefusals must be an integer from 1 (Infinity: never give up), got 2.5',
    ],
    [
      { pingIntervalMs: -1 },
      'TripSyncClient: pingIntervalMs must be a number of milliseconds from 1 to 2^31 - 1, got -1',
    ],
    [
      { maxDelayMs: 2 ** 31 },
      'TripSyncClient: maxDelayMs must be a number of milliseconds from 1 to 2^31 - 1, got 2147483648',
    ],
    [
      { pongTimeoutMs: Number.NaN },
      'TripSyncClient: pongTimeoutMs must be a number of milliseconds from 1 to 2^31 - 1, got NaN',
    ],
    [{ storageKey: 5 }, 'TripSyncClient: storageKey must be a string'],
  ])('rejects %j, naming the option', (override, message) => {
    const options = { ...valid, ...override } as unknown as ConstructorParameters<
      typeof TripSyncClient
    >[0];
    expect(() => new TripSyncClient(options)).toThrow(new TypeError(message));
  });

  it('accepts maxRefusals: Infinity (never give up)', () => {
    expect(resolveOptions({ ...valid, maxRefusals: Number.POSITIVE_INFINITY }).maxRefusals).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it('keeps the default of an option given as undefined', () => {
    expect(resolveOptions({ ...valid, maxRefusals: undefined }).maxRefusals).toBe(
      DEFAULTS.maxRefusals,
    );
  });

  it('asks for a WebSocket class where there is no global one (Node 20 and 21)', () => {
    vi.stubGlobal('WebSocket', undefined);
    try {
      expect(() => new TripSyncClient({ url: valid.url, token: valid.token })).toThrow(
        'TripSyncClient: no WebSocket class: pass options.WebSocket (e.g. `import { WebSocket } from "ws"`)',
      );
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('does not connect before connect()', () => {
    expect(new TripSyncClient(valid).status).toBe('closed');
  });
});
