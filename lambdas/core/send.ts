import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { ConnectionGoneError, PostFailedError } from './errors';
import type { ConnectionGateway, ConnectionStore, Log } from './ports';
import { parseSendRequest, type SendTarget } from './send-request';

/** How `send` fans out. Read from the environment once, in `lambdas/config/send.ts`. */
export interface FanOutOptions {
  /** Posts (and per-user lookups) in flight at once. */
  concurrency: number;
  /** Deadline of one post attempt: `PostToConnection` can hang past the SDK's own timeout. */
  postTimeoutMs: number;
  /** Attempts per post when API Gateway throttles (429) or fails (5xx). */
  maxAttempts: number;
  /** Full-jitter backoff: attempt n waits a random time in [0, min(max, base * 2^(n-1))). */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** What happened to the posts of one `send`. */
export interface DeliveryCounts {
  /** Accepted by API Gateway for the connection. */
  delivered: number;
  /** The connection was gone (410); its row has been removed. Not an error. */
  stale: number;
  /** Not delivered after the allowed attempts (throttled, 5xx, timed out). */
  failed: number;
}

/**
 * The result of a `send` invocation. `users` is present for a `userIds` send, with an entry
 * for every requested user (all zeros for a user with no open connection).
 *
 * @example
 * { delivered: 3, stale: 1, failed: 0, users: { '42': { delivered: 2, stale: 1, failed: 0 },
 *                                               '7': { delivered: 1, stale: 0, failed: 0 } } }
 */
export interface SendResult extends DeliveryCounts {
  users?: Record<string, DeliveryCounts>;
}

export interface SendDependencies {
  store: ConnectionStore;
  gateway: ConnectionGateway;
  log: Log;
  options: FanOutOptions;
  /** Epoch milliseconds; injectable so tests can move time. */
  now?: () => number;
  /** In [0, 1); injectable so tests can pin the backoff jitter. */
  random?: () => number;
  /**
   * Epoch milliseconds by which the send must be over (the Lambda timeout, less a margin). No
   * post attempt starts unless its deadline fits before it: the rest count `failed`, and the
   * invocation returns its counts rather than timing out, when an `Event` retry would repeat
   * messages to connections already reached.
   */
  finishBy?: number;
  /** Called once per send that got as far as its posts, with what it did (for metrics). */
  report?: (report: SendReport) => void;
}

/** What one send did, for whoever measures it: the counts, and the posts never attempted. */
export interface SendReport extends DeliveryCounts {
  target: SendTarget['kind'];
  /** Live connections of the target. */
  connections: number;
  /** Posts not attempted because time ran out (counted in `failed` too). */
  notAttempted: number;
}

type Outcome = keyof DeliveryCounts;

/** Shared by the posts of one send. */
interface FanOutRun {
  /** Posts (or retries) not started because the invocation's time was running out. */
  notAttempted: number;
}

interface Delivery {
  connectionId: string;
  /** Unknown for a `connectionId` send until a stale cleanup looks it up. */
  userId?: string;
}

/**
 * Delivers one message to every live connection of its target. Validates first (throws
 * `ValidationError`), then reads every target's connections (throws `StoreUnavailableError`
 * before anything is posted), then posts concurrently with retries.
 *
 * @example
 * const result = await sendNotification(
 *   { userId: 42, message: { type: 'seat_taken', seat: 3 } },
 *   { store, gateway, log, options },
 * );
 * // { delivered: 2, stale: 0, failed: 0 }
 */
export async function sendNotification(
  payload: unknown,
  deps: SendDependencies,
): Promise<SendResult> {
  const request = parseSendRequest(payload);
  const limit = pLimit(deps.options.concurrency);
  const deliveries = await resolveDeliveries(request.target, deps, limit);
  const run: FanOutRun = { notAttempted: 0 };
  const outcomes = await Promise.all(
    deliveries.map((delivery) => limit(() => deliver(delivery, request.messageBytes, deps, run))),
  );
  const result = tally(request.target, deliveries, outcomes);
  const summary = {
    target: request.target.kind,
    connections: deliveries.length,
    delivered: result.delivered,
    stale: result.stale,
    failed: result.failed,
  };
  deps.report?.({ ...summary, notAttempted: run.notAttempted });
  if (run.notAttempted > 0) {
    deps.log.warn('send ran out of time; some posts were not attempted', {
      ...summary,
      notAttempted: run.notAttempted,
    });
  } else {
    deps.log.info('send finished', summary);
  }
  return result;
}

async function resolveDeliveries(
  target: SendTarget,
  deps: SendDependencies,
  limit: ReturnType<typeof pLimit>,
): Promise<Delivery[]> {
  const nowSeconds = Math.floor((deps.now ?? Date.now)() / 1000);
  const connectionsOf = async (userId: string): Promise<Delivery[]> =>
    (await deps.store.listConnectionIds(userId, nowSeconds)).map((connectionId) => ({
      userId,
      connectionId,
    }));

  switch (target.kind) {
    case 'connection':
      return [{ connectionId: target.connectionId }];
    case 'user':
      return connectionsOf(target.userId);
    case 'users': {
      const perUser = await Promise.all(target.userIds.map((id) => limit(() => connectionsOf(id))));
      return perUser.flat();
    }
  }
}

async function deliver(
  delivery: Delivery,
  data: Uint8Array,
  deps: SendDependencies,
  run: FanOutRun,
) {
  const outcome = await postWithRetry(delivery.connectionId, data, deps, run);
  if (outcome === 'stale') await removeStaleConnection(delivery, deps);
  return outcome;
}

async function postWithRetry(
  connectionId: string,
  data: Uint8Array,
  { gateway, log, options, random = Math.random, now = Date.now, finishBy }: SendDependencies,
  run: FanOutRun,
): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    if (finishBy !== undefined && now() + options.postTimeoutMs > finishBy) {
      run.notAttempted++;
      return 'failed';
    }
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`post timed out after ${options.postTimeoutMs} ms`)),
      options.postTimeoutMs,
    );
    try {
      await gateway.postToConnection(connectionId, data, deadline.signal);
      return 'delivered';
    } catch (error) {
      if (error instanceof ConnectionGoneError) return 'stale';
      const retryable = error instanceof PostFailedError && error.retryable;
      if (!retryable || attempt >= options.maxAttempts) {
        log.warn('post failed', { connectionId, attempts: attempt, error: errorText(error) });
        return 'failed';
      }
      const ceiling = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** (attempt - 1));
      await sleep(random() * ceiling);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A 410 means the client is gone for good: remove its row (the TTL is only the backstop). */
async function removeStaleConnection(delivery: Delivery, { store, log }: SendDependencies) {
  const { connectionId } = delivery;
  try {
    const userId = delivery.userId ?? (await store.findUserId(connectionId));
    if (userId === undefined) {
      log.info('stale connection had no row', { connectionId });
      return;
    }
    await store.deleteConnection(userId, connectionId);
    log.info('removed stale connection', { connectionId, userId });
  } catch (error) {
    // Delivery results stay true; the row's TTL removes it later.
    log.error('could not remove stale connection', { connectionId, error: errorText(error) });
  }
}

function tally(target: SendTarget, deliveries: Delivery[], outcomes: Outcome[]): SendResult {
  const totals: DeliveryCounts = { delivered: 0, stale: 0, failed: 0 };
  if (target.kind !== 'users') {
    for (const outcome of outcomes) totals[outcome]++;
    return totals;
  }
  const users: Record<string, DeliveryCounts> = Object.create(null);
  for (const userId of target.userIds) users[userId] = { delivered: 0, stale: 0, failed: 0 };
  outcomes.forEach((outcome, index) => {
    totals[outcome]++;
    const userId = deliveries[index]?.userId;
    if (userId !== undefined) (users[userId] as DeliveryCounts)[outcome]++;
  });
  return { ...totals, users: { ...users } };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
