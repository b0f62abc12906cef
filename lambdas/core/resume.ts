import pLimit from 'p-limit';
import { PROTOCOL_V2 } from '../shared/limits';
import { MissingIdentityError, StoreUnavailableError } from './errors';
import { describeType } from './identifiers';
import { type AuthorizerContext, authorizedUserId } from './identity';
import type { ConnectionGateway, ConnectionStore, Log, LogHead, MessageLog } from './ports';
import { messageFrame, resumedFrame } from './protocol-v2';
import { type FanOutOptions, type FanOutRun, type Outcome, postWithRetry } from './send';

/** Stable codes of a resume's `error` frame, for clients to branch on. */
export type ResumeErrorCode =
  /** The frame is not `{"action":"resume","after":n[,"epoch":"…"]}`; the message names the field. */
  | 'INVALID_RESUME'
  /** This connection resumed too often; ask again after a backoff. */
  | 'RESUME_RATE_LIMITED'
  /** The message log or the connection's row could not be read; ask again after a backoff. */
  | 'RESUME_UNAVAILABLE'
  /** A v1 connection (no `tripsync.v2` subprotocol) gets no v2 frames. */
  | 'PROTOCOL_V2_REQUIRED'
  | 'NO_IDENTITY';

/** The reply to a refused resume: the route response, to the sender only. */
export interface ResumeError {
  type: 'error';
  code: ResumeErrorCode;
  message: string;
}

/** A `resume` frame as its route receives it. */
export interface ResumeRequest {
  body?: string | null;
  connectionId: string;
  authorizer?: AuthorizerContext;
}

export interface ResumeDependencies {
  store: ConnectionStore;
  messageLog: MessageLog;
  gateway: ConnectionGateway;
  log: Log;
  /** Posts of the replay: in flight at once (`concurrency`), deadlines, retries. */
  options: FanOutOptions;
  /** Epoch milliseconds; injectable so tests can move time. */
  now?: () => number;
  random?: () => number;
  /** Epoch milliseconds by which the replay stops posting (the Lambda timeout, less a margin). */
  finishBy?: number;
}

/** What a served resume did, for the log line and the tests. */
export interface ResumeServed {
  userId: string;
  epoch: string | null;
  after: number;
  last: number;
  truncated: boolean;
  /** Message frames posted (delivered or not). */
  replayed: number;
  /** Of those, the frames API Gateway accepted. */
  delivered: number;
  /** False when the connection went away, or posts failed: the client resumes again. */
  complete: boolean;
}

/**
 * Serves `{"action":"resume","after":n,"epoch":"…"}` on a protocol v2 connection: posts the
 * user's retained logged messages with `seq > after` (at most one page of 1,000), in seq order,
 * to this connection only, then the `resumed` frame. Returns the `error` frame to answer instead
 * (as the route response) when the resume is refused; a refused resume changes nothing.
 *
 * Epochs: a resume naming an epoch other than the user's current one is served from seq 0 of
 * the current epoch, `truncated: true`. Expiry: the page starts at the first retained message
 * after `after` (`truncated: true` when that is not `after + 1`) and stops before a hole, so a
 * client resuming from the last seq it holds always moves forward.
 *
 * @example
 * const refused = await serveResume({ body, connectionId, authorizer }, deps);
 * return refused ? { statusCode: 200, body: JSON.stringify(refused) } : { statusCode: 200 };
 */
export async function serveResume(
  request: ResumeRequest,
  deps: ResumeDependencies,
): Promise<ResumeError | ResumeServed> {
  const parsed = parseResume(request.body);
  if ('code' in parsed) return parsed;
  let userId: string;
  try {
    userId = authorizedUserId(request.authorizer);
  } catch (cause) {
    if (cause instanceof MissingIdentityError) {
      return refuse('NO_IDENTITY', 'this connection has no authorized user');
    }
    throw cause;
  }
  const nowMs = (deps.now ?? Date.now)();
  const now = Math.floor(nowMs / 1000);
  let head: LogHead;
  try {
    const claim = await deps.store.claimResume(userId, request.connectionId, nowMs, {
      burst: PROTOCOL_V2.resumeBurst,
      refillMs: PROTOCOL_V2.resumeRefillMs,
    });
    if (claim.kind === 'rateLimited') {
      return refuse(
        'RESUME_RATE_LIMITED',
        `this connection resumed more than ${PROTOCOL_V2.resumeBurst} times in a burst (one more every ${PROTOCOL_V2.resumeRefillMs} ms); resume again after a backoff`,
      );
    }
    if (claim.kind === 'unknownConnection') {
      return refuse(
        'RESUME_UNAVAILABLE',
        'this connection is not registered (its row expired or it is closing); reconnect',
      );
    }
    if (claim.protocol !== PROTOCOL_V2.subprotocol) {
      return refuse(
        'PROTOCOL_V2_REQUIRED',
        `resume needs protocol v2: connect with the subprotocol ${PROTOCOL_V2.subprotocol} (Sec-WebSocket-Protocol)`,
      );
    }
    head = await deps.messageLog.head(userId, now);
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    deps.log.error('resume could not read its stores', {
      connectionId: request.connectionId,
      error,
    });
    return refuse('RESUME_UNAVAILABLE', 'the message log cannot be read now; resume again later');
  }

  let from = parsed.after;
  let truncated = false;
  if (parsed.epoch !== undefined && parsed.epoch !== head.epoch) {
    // The client's cursor belongs to a sequence that restarted: the current one from its start.
    from = 0;
    truncated = true;
  } else if (parsed.after > head.last) {
    return refuse(
      'INVALID_RESUME',
      head.epoch === null
        ? `after: ${parsed.after} is beyond the user's log, which is empty; resume with after 0`
        : `after: ${parsed.after} is beyond the last seq ${head.last} of epoch ${head.epoch}`,
    );
  }
  return replay(userId, request.connectionId, head, from, truncated, now, deps);
}

async function replay(
  userId: string,
  connectionId: string,
  head: LogHead,
  from: number,
  epochTruncated: boolean,
  now: number,
  deps: ResumeDependencies,
): Promise<ResumeServed> {
  const limit = pLimit(deps.options.concurrency);
  const run: FanOutRun = { notAttempted: 0 };
  const outcomes: Array<Promise<Outcome>> = [];
  let gone = false;
  const post = (data: string) =>
    limit(async (): Promise<Outcome> => {
      if (gone) return 'stale';
      const outcome = await postWithRetry(connectionId, encoder.encode(data), deps, run);
      if (outcome === 'stale') gone = true;
      return outcome;
    });

  let first: number | undefined;
  let next = from + 1;
  let replayed = 0;
  let storeFailed = false;
  try {
    for await (const stored of deps.messageLog.messagesAfter(
      userId,
      from,
      head.last,
      PROTOCOL_V2.replayPageSize,
    )) {
      if (gone) break;
      const retained = stored.expiresAt > now && stored.epoch === head.epoch;
      if (first === undefined) {
        // Expired history comes first (expiry follows seq order): skip to what is retained.
        if (!retained) continue;
        first = stored.seq;
      } else if (!retained || stored.seq !== next) {
        // A hole (expired, or deleted by TTL): this page ends before it; the next resume
        // starts after it, with `truncated`.
        break;
      }
      next = stored.seq + 1;
      replayed++;
      outcomes.push(
        post(messageFrame(stored.messageJson, { seq: stored.seq, epoch: stored.epoch })),
      );
      // A full page: stop before the iterator asks DynamoDB for more.
      if (replayed >= PROTOCOL_V2.replayPageSize) break;
    }
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    // What was read is posted; the client finds itself short of `last` and resumes again.
    storeFailed = true;
    deps.log.error('resume could not read the whole page', { connectionId, userId, error });
  }
  const results = await Promise.all(outcomes);
  const truncated = epochTruncated || (first === undefined ? head.last > from : first > from + 1);
  const served: ResumeServed = {
    userId,
    epoch: head.epoch,
    after: from,
    last: head.last,
    truncated,
    replayed,
    delivered: results.filter((outcome) => outcome === 'delivered').length,
    complete: !gone && !storeFailed && results.every((outcome) => outcome === 'delivered'),
  };
  if (!gone) {
    // Posted after every message of the page has been accepted, on the same channel.
    const closing = resumedFrame({ epoch: head.epoch, after: from, last: head.last, truncated });
    const outcome = await postWithRetry(connectionId, encoder.encode(closing), deps, run);
    if (outcome !== 'delivered') served.complete = false;
  }
  deps.log.info('resume served', { connectionId, ...served });
  return served;
}

const encoder = new TextEncoder();

const RESUME_FIELDS = new Set(['action', 'after', 'epoch']);
/** Longest epoch accepted; the backend's own are 16 characters. */
const MAX_EPOCH_LENGTH = 64;

/** The resume frame's fields, or the `error` frame naming what is wrong with it. */
function parseResume(
  body: string | null | undefined,
): { after: number; epoch?: string } | ResumeError {
  const hint =
    'send {"action":"resume","after":<last seq received, 0 for none>,"epoch":"<its epoch>"}';
  let frame: unknown;
  try {
    frame = JSON.parse(body ?? '');
  } catch {
    return refuse('INVALID_RESUME', `resume: not JSON; ${hint}`);
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return refuse('INVALID_RESUME', `resume: must be a JSON object; ${hint}`);
  }
  const fields = frame as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!RESUME_FIELDS.has(key)) {
      const name = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
      return refuse('INVALID_RESUME', `${name.slice(1, -1)}: unknown field; ${hint}`);
    }
  }
  const { after, epoch } = fields;
  if (after === undefined) return refuse('INVALID_RESUME', `after: is required; ${hint}`);
  if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) {
    const got = typeof after === 'number' ? String(after) : describeType(after);
    return refuse(
      'INVALID_RESUME',
      `after: must be a non-negative safe integer (the last seq received, 0 for none), got ${got}`,
    );
  }
  if (epoch === undefined || epoch === null) return { after };
  if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > MAX_EPOCH_LENGTH) {
    return refuse(
      'INVALID_RESUME',
      `epoch: must be the epoch of the last message received (a string of 1 to ${MAX_EPOCH_LENGTH} characters), or left out, got ${
        typeof epoch === 'string' ? `a string of ${epoch.length} characters` : describeType(epoch)
      }`,
    );
  }
  return { after, epoch };
}

function refuse(code: ResumeErrorCode, message: string): ResumeError {
  return { type: 'error', code, message };
}
