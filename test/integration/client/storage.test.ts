import { describe, expect, it } from 'vitest';
import type { CursorStorage } from '../../../client/src/index';
import { range } from '../../support/client-recorder';
import { clientOf, sendMany, standIn } from './harness';

// The cursor kept in a storage adapter across client instances (a page reload), against the
// stand-in protocol v2 server in test/support until the local stack speaks v2.

/** `localStorage`'s shape over a Map: the adapter a browser passes is `localStorage` itself. */
function memoryStorage(entries: Record<string, string> = {}): CursorStorage & {
  map: Map<string, string>;
} {
  const map = new Map(Object.entries(entries));
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value);
    },
  };
}

/** React Native's `AsyncStorage` shape: every call returns a promise. */
function asyncStorage(): CursorStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: async (key) => map.get(key) ?? null,
    setItem: async (key, value) => {
      map.set(key, value);
    },
  };
}

describe('a cursor kept in storage', () => {
  it.each([
    ['localStorage-shaped', memoryStorage],
    ['async', asyncStorage],
  ])(
    'lets a new client (a page reload) resume where the last one stopped (%s)',
    async (_, makeStorage) => {
      // Prepare: the first client saw 1–10 before the page went away.
      const server = await standIn();
      const storage = makeStorage();
      const before = clientOf(server, { storage, storageKey: 'tripsync:42' });
      before.client.connect();
      sendMany(server, 10, 'seen');
      await before.recording.until('10 messages', () => before.recording.messages.length === 10);
      before.client.close();
      const missed = sendMany(server, 5, 'missed');

      // Act: a new client with the same storage.
      const after = clientOf(server, { storage, storageKey: 'tripsync:42' });
      after.client.connect();
      await after.recording.until('5 messages', () => after.recording.messages.length === 5);

      // Assess: only what the first client had not seen, after seq 10 of the same epoch.
      const epoch = server.epochOf('42');
      expect(after.recording.seqs()).toEqual(range(11, 15));
      expect(after.recording.messages.map((m) => m.message)).toEqual(missed);
      expect(server.resumesOf(await server.accepted(2))).toEqual([
        { action: 'resume', after: 10, epoch },
      ]);
      expect(JSON.parse(storage.map.get('tripsync:42') as string)).toEqual({ epoch, seq: 15 });
    },
  );

  it('reports a stored value that is not a cursor and starts from the beginning', async () => {
    // Prepare
    const server = await standIn();
    const all = sendMany(server, 3, 'all');
    const storage = memoryStorage({ 'tripsync.cursor': '{"seq":"ten"}' });
    const { client, recording } = clientOf(server, { storage });

    // Act
    client.connect();
    await recording.until('3 messages', () => recording.messages.length === 3);

    // Assess
    expect(recording.errors.map((e) => [e.code, e.message])).toEqual([
      [
        'STORAGE_FAILED',
        'could not read the cursor in storage: TypeError: not a cursor: {"seq":"ten"}',
      ],
    ]);
    expect(recording.messages.map((m) => m.message)).toEqual(all);
  });

  it('reports a storage that cannot be written, and still delivers', async () => {
    // Prepare: a full storage (QuotaExceededError in a browser).
    const server = await standIn();
    const storage: CursorStorage = {
      getItem: () => null,
      setItem: () => {
        throw new Error('quota exceeded');
      },
    };
    const { client, recording } = clientOf(server, { storage });
    client.connect();

    // Act
    const sent = sendMany(server, 2, 'live');
    await recording.until(
      '2 messages and 2 errors',
      () => recording.messages.length === 2 && recording.errors.length === 2,
    );

    // Assess
    expect(recording.messages.map((m) => m.message)).toEqual(sent);
    expect(recording.errors.map((e) => e.message)).toEqual([
      'could not write the cursor in storage: Error: quota exceeded',
      'could not write the cursor in storage: Error: quota exceeded',
    ]);
  });

  it('starts afresh, with a gap, when the server refuses the stored cursor', async () => {
    // Prepare: the stored cursor is beyond the user's log in the same epoch (written against
    // another environment that happened to use the same epoch string).
    const server = await standIn();
    const all = sendMany(server, 4, 'all');
    const epoch = server.epochOf('42');
    const storage = memoryStorage({ 'tripsync.cursor': JSON.stringify({ epoch, seq: 999 }) });
    const { client, recording } = clientOf(server, { storage });

    // Act
    client.connect();
    await recording.until('4 messages', () => recording.messages.length === 4);

    // Assess
    expect(recording.errors.map((e) => [e.name, e.code])).toEqual([
      ['ServerError', 'INVALID_RESUME'],
    ]);
    expect(recording.gaps).toEqual([
      { reason: 'invalid-cursor', previous: { epoch, seq: 999 }, epoch: null },
    ]);
    expect(recording.seqs()).toEqual([1, 2, 3, 4]);
    expect(recording.messages.map((m) => m.message)).toEqual(all);
  });
});
