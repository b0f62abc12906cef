import type {
  ClientMessage,
  ConnectionStatus,
  Gap,
  TripSyncClient,
  TripSyncError,
} from '../../client/src/index';

// Captured at import, before any test fakes timers: the guard below must keep real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** Everything a client emitted, in order, and a way to wait for a state of it. */
export interface Recording {
  messages: ClientMessage[];
  statuses: ConnectionStatus[];
  gaps: Gap[];
  errors: TripSyncError[];
  /** Every event in order: `status:open`, `gap:epoch`, `error:CODE`, `seq:<epoch>:<n>`, `message`. */
  events: string[];
  /** The seqs of the logged messages received, in order. */
  seqs(): number[];
  /**
   * Resolves as soon as `condition` holds, checked now and after each event of the client (the
   * client's events are the synchronisation: no sleeps). Rejects after `timeoutMs`, a guard
   * against a hang, naming what it waited for and what it saw.
   */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
}

/**
 * Records a client's events from now on.
 *
 * @example
 * const recording = record(client);
 * client.connect();
 * await recording.until('100 messages', () => recording.messages.length === 100);
 */
export function record(client: TripSyncClient): Recording {
  const checks = new Set<() => void>();
  const recording: Recording = {
    messages: [],
    statuses: [],
    gaps: [],
    errors: [],
    events: [],
    seqs: () => recording.messages.flatMap((m) => (m.seq === undefined ? [] : [m.seq])),
    until(what, condition, timeoutMs = 10_000) {
      if (condition()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          realClearTimeout(guard);
          checks.delete(check);
          resolve();
        };
        const guard = realSetTimeout(() => {
          checks.delete(check);
          const last = recording.events.slice(-8).join(', ');
          reject(new Error(`timed out waiting for ${what}; last events: ${last}`));
        }, timeoutMs);
        checks.add(check);
      });
    },
  };
  const seen = (event: string) => {
    recording.events.push(event);
    for (const check of [...checks]) check();
  };
  client.on('message', (m) => {
    recording.messages.push(m);
    seen(m.seq === undefined ? 'message' : `seq:${m.epoch}:${m.seq}`);
  });
  client.on('status', (s) => {
    recording.statuses.push(s);
    seen(`status:${s}`);
  });
  client.on('gap', (g) => {
    recording.gaps.push(g);
    seen(`gap:${g.reason}`);
  });
  client.on('error', (e) => {
    recording.errors.push(e);
    seen(`error:${e.code}`);
  });
  return recording;
}

/**
 * The integers from `from` to `to`, both included.
 *
 * @example
 * range(3, 5); // [3, 4, 5]
 */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
