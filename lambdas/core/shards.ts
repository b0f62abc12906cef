import { createHmac, timingSafeEqual } from 'node:crypto';
import { SEND_SHARDING } from '../shared/limits';
import { ValidationError } from './errors';
import { describeType } from './identifiers';
import type { ClientProtocol } from './ports';
import type { LogPosition } from './protocol-v2';

/**
 * Sharded fan-out: what a send that is too large for one invocation hands to the invocations of
 * itself that post for it, and how those recognise a shard that this function wrote.
 *
 * A shard payload is `{"shard": "<body as JSON text>", "signature": "<HMAC-SHA256>"}`. The body
 * is signed with `SHARD_SIGNING_KEY`, which only the send function holds, so a producer cannot
 * write one: a payload with a `shard` field goes to the shard path, which refuses it unless the
 * signature matches, and a producer's own payload may not carry the field at all. The shard path
 * posts what it is given and never invokes anything: a send is sharded one level deep whatever
 * a payload says.
 */

/** One user's connections in a shard, and the message's place in the user's log. */
export interface ShardUser {
  userId: string;
  /** Set when the message was logged for this user (the v2 frame carries it). */
  position?: LogPosition;
  /** Connection ids by protocol: the bare message to v1, its v2 envelope to v2. */
  v1: string[];
  v2: string[];
}

/** What one shard posts. */
export interface ShardBody {
  /** The message as JSON text, exactly what a v1 client receives. */
  messageJson: string;
  /**
   * Epoch milliseconds at which the invoking send stops waiting (its own deadline): the shard
   * starts no post it could not finish before, and its payload is refused after it.
   */
  replyBy?: number;
  users: ShardUser[];
}

/** The payload of a shard invocation. */
export interface ShardPayload {
  shard: string;
  signature: string;
}

/** A connection to post to, as a shard plan sees it. */
export interface ShardEntry {
  userId: string;
  connectionId: string;
  protocol: ClientProtocol;
}

/** The format of a shard body; a shard of another format is refused (a deploy in between). */
const SHARD_FORMAT = 1;

/**
 * Whether an invocation's payload is a shard payload (a `shard` field), to be verified by
 * {@link readShard}. A producer's payload may not have the field (`parseSendRequest` refuses
 * unknown fields), so the two paths never mix.
 *
 * @example
 * isShardPayload({ userId: 42, message: {} }); // false
 */
export function isShardPayload(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && Object.hasOwn(payload, 'shard');
}

/**
 * Splits `entries` into shards of at most `shardSize`, as even as counts allow (so the shards
 * finish together), keeping each one's payload under `maxBytes`: a shard that would weigh more
 * is split again.
 *
 * @example
 * planShards(entries, 1000, '{"type":"x"}').map((s) => s.length); // 2,500 entries: [834, 833, 833]
 */
export function planShards<T extends ShardEntry>(
  entries: readonly T[],
  shardSize: number,
  messageJson: string,
  maxBytes: number = SEND_SHARDING.maxPayloadBytes,
): T[][] {
  const count = Math.ceil(entries.length / shardSize);
  const shards: T[][] = [];
  let start = 0;
  for (let index = 0; index < count; index++) {
    const size = Math.floor(entries.length / count) + (index < entries.length % count ? 1 : 0);
    shards.push(entries.slice(start, start + size));
    start += size;
  }
  const messageBytes = jsonStringBytes(messageJson);
  return shards.flatMap((shard) => withinBytes(shard, messageBytes, maxBytes));
}

function withinBytes<T extends ShardEntry>(shard: T[], messageBytes: number, max: number): T[][] {
  if (shard.length <= 1 || estimateBytes(shard, messageBytes) <= max) return [shard];
  const half = Math.ceil(shard.length / 2);
  return [
    ...withinBytes(shard.slice(0, half), messageBytes, max),
    ...withinBytes(shard.slice(half), messageBytes, max),
  ];
}

/**
 * An upper bound of a shard payload's size: the body is JSON text inside a JSON string, so every
 * quote and backslash of it is escaped once more.
 */
function estimateBytes(shard: readonly ShardEntry[], messageBytes: number): number {
  // Envelope, signature, replyBy and a user's seq and epoch: well under 200 bytes each.
  let bytes = 200 + 2 * messageBytes;
  let userId: string | undefined;
  for (const entry of shard) {
    if (entry.userId !== userId) {
      userId = entry.userId;
      bytes += 200 + 2 * jsonStringBytes(entry.userId);
    }
    bytes += 8 + entry.connectionId.length;
  }
  return bytes;
}

/** UTF-8 bytes of a string written as a JSON string (upper bound: 6 bytes per escaped unit). */
function jsonStringBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8');
}

/**
 * The body of one shard: its entries grouped by user, each with the message's place in the
 * user's log.
 *
 * @example
 * shardBody(entries, '{"type":"x"}', positions, Date.now() + 29_000);
 */
export function shardBody(
  entries: readonly ShardEntry[],
  messageJson: string,
  positions: ReadonlyMap<string, LogPosition>,
  replyBy: number | undefined,
): ShardBody {
  const users = new Map<string, ShardUser>();
  for (const { userId, connectionId, protocol } of entries) {
    let user = users.get(userId);
    if (!user) {
      const position = positions.get(userId);
      user = { userId, ...(position && { position }), v1: [], v2: [] };
      users.set(userId, user);
    }
    (protocol === 'v1' ? user.v1 : user.v2).push(connectionId);
  }
  return { messageJson, ...(replyBy !== undefined && { replyBy }), users: [...users.values()] };
}

/**
 * A shard payload for `body`, signed with `key`.
 *
 * @example
 * const payload = signShard(shardBody(entries, messageJson, positions, replyBy), key);
 * await invoker.invoke(JSON.stringify(payload), signal);
 */
export function signShard(body: ShardBody, key: string): ShardPayload {
  const shard = JSON.stringify({
    format: SHARD_FORMAT,
    message: body.messageJson,
    ...(body.replyBy !== undefined && { replyBy: body.replyBy }),
    users: body.users.map((user) => [
      user.userId,
      user.position?.seq ?? null,
      user.position?.epoch ?? null,
      user.v1,
      user.v2,
    ]),
  });
  return { shard, signature: mac(shard, key) };
}

/**
 * Verifies and reads a shard payload. Throws `ValidationError` (field `shard`) when it was not
 * signed with `key`, when it is malformed or of another format, or when its sender has stopped
 * waiting for it (`replyBy` has passed: nobody would count what it posts).
 *
 * @example
 * const body = readShard(event, config.signingKey, Date.now());
 */
export function readShard(payload: unknown, key: string | undefined, nowMs: number): ShardBody {
  if (key === undefined) {
    throw new ValidationError(
      'shard',
      'this function takes no shard payloads (SHARD_SIGNING_KEY is not set)',
    );
  }
  const fields = isShardPayload(payload) ? (payload as Record<string, unknown>) : {};
  const { shard, signature } = fields;
  const others = Object.keys(fields).filter((k) => k !== 'shard' && k !== 'signature');
  if (typeof shard !== 'string' || typeof signature !== 'string' || others.length > 0) {
    throw new ValidationError(
      'shard',
      'a shard payload is {"shard": string, "signature": string} and nothing else',
    );
  }
  if (!macMatches(shard, signature, key)) {
    throw new ValidationError(
      'shard',
      'signature does not match: shard payloads come from this function only',
    );
  }
  const body = parseBody(shard);
  if (body.replyBy !== undefined && nowMs >= body.replyBy) {
    throw new ValidationError(
      'shard.replyBy',
      `passed ${nowMs - body.replyBy} ms ago: the send that asked for this shard stopped waiting`,
    );
  }
  return body;
}

function mac(text: string, key: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('base64url');
}

function macMatches(text: string, signature: string, key: string): boolean {
  const expected = Buffer.from(mac(text, key), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A signed body is ours, but perhaps of another release: check its shape all the same. */
function parseBody(text: string): ShardBody {
  const bad = (problem: string) => new ValidationError('shard', problem);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad('body is not JSON');
  }
  const body = raw as Record<string, unknown>;
  if (body?.format !== SHARD_FORMAT) {
    throw bad(`format ${String(body?.format)} is not this release's (${SHARD_FORMAT})`);
  }
  if (typeof body.message !== 'string') throw bad('message must be JSON text');
  if (body.replyBy !== undefined && !Number.isFinite(body.replyBy)) {
    throw bad(`replyBy must be epoch milliseconds, got ${describeType(body.replyBy)}`);
  }
  if (!Array.isArray(body.users)) throw bad('users must be an array');
  const users = body.users.map((entry: unknown, index): ShardUser => {
    const [userId, seq, epoch, v1, v2] = Array.isArray(entry) ? entry : [];
    const isIds = (ids: unknown): ids is string[] =>
      Array.isArray(ids) && ids.every((id) => typeof id === 'string');
    if (typeof userId !== 'string' || !isIds(v1) || !isIds(v2)) {
      throw bad(`users[${index}] must be [userId, seq, epoch, v1 ids, v2 ids]`);
    }
    const logged = Number.isSafeInteger(seq) && (seq as number) > 0 && typeof epoch === 'string';
    if (!logged && (seq !== null || epoch !== null)) {
      throw bad(`users[${index}]: seq and epoch must be both set or both null`);
    }
    return {
      userId,
      ...(logged && { position: { seq: seq as number, epoch: epoch as string } }),
      v1,
      v2,
    };
  });
  return {
    messageJson: body.message,
    ...(body.replyBy !== undefined && { replyBy: body.replyBy as number }),
    users,
  };
}
