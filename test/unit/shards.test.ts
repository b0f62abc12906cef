import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors';
import {
  isShardPayload,
  planShards,
  readShard,
  type ShardEntry,
  shardBody,
  signShard,
} from '../../lambdas/core/shards';

const KEY = 'k'.repeat(32);
const NOW = 1_800_000_000_000;

function entries(count: number, users = 1): ShardEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    userId: `u${i % users}`,
    connectionId: `Conn${String(i).padStart(8, '0')}=`,
    protocol: i % 3 === 0 ? 'tripsync.v2' : 'v1',
  }));
}

describe('planShards', () => {
  it.each([
    [4, 4, [4]],
    [5, 4, [3, 2]],
    [2500, 1000, [834, 833, 833]],
    [10_000, 1000, Array(10).fill(1000)],
    [1, 1, [1]],
    [0, 10, []],
  ])('splits %i entries, at most %i a shard, into %j', (count, size, expected) => {
    expect(planShards(entries(count), size, '{}').map((s) => s.length)).toEqual(expected);
  });

  it('keeps every entry exactly once, in order, in as few even shards as the size allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 1200 }),
        (n, size) => {
          // Act
          const all = entries(n, 7);
          const shards = planShards(all, size, '{"type":"x"}');

          // Assess
          expect(shards.flat()).toEqual(all);
          expect(shards).toHaveLength(Math.ceil(n / size));
          const lengths = shards.map((s) => s.length);
          if (n === 0) return;
          expect(Math.max(...lengths)).toBeLessThanOrEqual(size);
          expect(Math.max(...lengths) - Math.min(...lengths)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('splits a shard again when its payload would weigh more than the limit', () => {
    // Prepare: 100 ids of 100 characters and a large message, against a 20 KB limit.
    const heavy = Array.from({ length: 100 }, (_, i) => ({
      userId: 'u',
      connectionId: `${i}`.padStart(100, 'x'),
      protocol: 'v1' as const,
    }));
    const message = JSON.stringify({ text: '"'.repeat(2000) });

    // Act
    const shards = planShards(heavy, 100, message, 20_000);

    // Assess: each signed payload fits, and nothing was lost.
    expect(shards.length).toBeGreaterThan(1);
    expect(shards.flat()).toEqual(heavy);
    for (const shard of shards) {
      const payload = signShard(shardBody(shard, message, new Map(), NOW), KEY);
      expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThanOrEqual(20_000);
    }
  });
});

describe('shard payloads', () => {
  const positions = new Map([['u0', { seq: 17, epoch: 'AbCdEfGhIjKlMnOp' }]]);
  const body = shardBody(entries(6, 2), '{"type":"seat_taken"}', positions, NOW + 5000);

  it('group connections by user and protocol, with the positions of the logged users', () => {
    expect(body).toEqual({
      messageJson: '{"type":"seat_taken"}',
      replyBy: NOW + 5000,
      users: [
        {
          userId: 'u0',
          position: { seq: 17, epoch: 'AbCdEfGhIjKlMnOp' },
          v1: ['Conn00000002=', 'Conn00000004='],
          v2: ['Conn00000000='],
        },
        { userId: 'u1', v1: ['Conn00000001=', 'Conn00000005='], v2: ['Conn00000003='] },
      ],
    });
  });

  it('read back as signed, once they have crossed JSON', () => {
    const payload = JSON.parse(JSON.stringify(signShard(body, KEY)));
    expect(isShardPayload(payload)).toBe(true);
    expect(readShard(payload, KEY, NOW)).toEqual(body);
  });

  const refusals: Array<[string, (p: { shard: string; signature: string }) => unknown, RegExp]> = [
    ['another key', (p) => p, /signature does not match/],
    [
      'a body changed after signing',
      (p) => ({ ...p, shard: p.shard.replace('seat_taken', 'seat_freed') }),
      /signature does not match/,
    ],
    ['a signature left out', ({ shard }) => ({ shard }), /nothing else/],
    ['a field besides', (p) => ({ ...p, userId: 'u0' }), /nothing else/],
    ['a shard that is not text', (p) => ({ ...p, shard: JSON.parse(p.shard) }), /nothing else/],
  ];
  it.each(refusals)('are refused with %s', (label, change, reason) => {
    // Prepare
    const payload = change(signShard(body, label === 'another key' ? 'o'.repeat(32) : KEY));

    // Act
    const read = () => readShard(payload, KEY, NOW);

    // Assess
    expect(read).toThrow(ValidationError);
    expect(read).toThrow(reason);
  });

  it('are refused once the send that asked has stopped waiting', () => {
    const payload = signShard(body, KEY);
    expect(() => readShard(payload, KEY, NOW + 4999)).not.toThrow();
    expect(() => readShard(payload, KEY, NOW + 5000)).toThrow(/shard\.replyBy: passed 0 ms ago/);
  });

  it('are refused by a function without a key, whatever they carry', () => {
    expect(() => readShard(signShard(body, KEY), undefined, NOW)).toThrow(
      /takes no shard payloads/,
    );
  });

  it.each([
    ['another format', { format: 2, message: '{}', users: [] }, /format 2/],
    [
      'a user without its ids',
      { format: 1, message: '{}', users: [['u0', null, null]] },
      /users\[0\]/,
    ],
    [
      'a seq without its epoch',
      { format: 1, message: '{}', users: [['u0', 3, null, [], ['c=']]] },
      /both set or both null/,
    ],
  ])('are refused with %s, even when signed', (_label, raw, reason) => {
    // Prepare: signed with the key, as a release with another format would.
    const shard = JSON.stringify(raw);
    const signature = createHmac('sha256', KEY).update(shard).digest('base64url');

    // Act & Assess
    expect(() => readShard({ shard, signature }, KEY, NOW)).toThrow(reason);
  });

  it.each([
    [{ userId: 42, message: {} }, false],
    [null, false],
    ['shard', false],
    [{ shard: 'x' }, true],
  ])('isShardPayload(%j) is %s', (payload, expected) => {
    expect(isShardPayload(payload)).toBe(expected);
  });
});
