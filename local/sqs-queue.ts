import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** A message attribute as SQS keeps it: a type and a string or binary value. */
export interface MessageAttribute {
  /** `String`, `Number`, `Binary`, or one of them with a custom suffix (`String.json`). */
  DataType: string;
  StringValue?: string;
  BinaryValue?: Buffer;
}

/** One message on a local queue. */
export interface QueueMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, MessageAttribute>;
  md5OfMessageAttributes: string | undefined;
  /** Epoch milliseconds. */
  sentTimestamp: number;
  senderId: string;
  /** Times received so far (`ApproximateReceiveCount`). */
  receiveCount: number;
  firstReceiveTimestamp: number | undefined;
  /** Epoch milliseconds when it may next be received (delay, visibility timeout). */
  visibleAt: number;
  /** The receipt handle of its latest receive; earlier ones no longer delete it. */
  receiptHandle: string | undefined;
  /** Set on a message the redrive policy moved here: the queue it came from. */
  deadLetterQueueSourceArn?: string;
}

/** What a producer sends. */
export interface SendInput {
  body: string;
  messageAttributes?: Record<string, MessageAttribute>;
  delaySeconds?: number;
  senderId?: string;
}

/** Where a queue's messages go after `maxReceiveCount` receives. */
export interface RedrivePolicy {
  deadLetterQueue: LocalQueue;
  maxReceiveCount: number;
}

export interface LocalQueueOptions {
  name: string;
  url: string;
  arn: string;
  visibilityTimeoutMs: number;
  retentionMs: number;
  maxMessageBytes: number;
  redrive?: RedrivePolicy;
  /** Called when the redrive policy moves a message to the dead-letter queue. */
  onRedrive?: (message: QueueMessage, from: LocalQueue) => void;
  now?: () => number;
}

/**
 * A standard SQS queue in memory, with SQS's delivery rules: a received message stays
 * invisible for the visibility timeout and comes back unless deleted with its latest receipt
 * handle; a message received `maxReceiveCount` times moves to the dead-letter queue on its
 * next receive (keeping its id, body and attributes, with `DeadLetterQueueSourceArn`); a
 * message older than the retention period is dropped. Delivery is at least once and roughly
 * in order, as on a standard queue.
 *
 * @example
 * const dlq = new LocalQueue({ name: 'notifications-dlq', url, arn, visibilityTimeoutMs: 30_000, retentionMs, maxMessageBytes: 262_144 });
 * const queue = new LocalQueue({ ..., redrive: { deadLetterQueue: dlq, maxReceiveCount: 5 } });
 * queue.send({ body: '{"userId":"42","message":{}}' });
 * const [message] = await queue.receive({ max: 10, waitMs: 0 });
 * queue.delete(message.receiptHandle);
 */
export class LocalQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutMs: number;
  readonly retentionMs: number;
  readonly maxMessageBytes: number;
  readonly redrive: RedrivePolicy | undefined;
  private readonly messages: QueueMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly now: () => number;
  private readonly onRedrive: LocalQueueOptions['onRedrive'];

  constructor(options: LocalQueueOptions) {
    this.name = options.name;
    this.url = options.url;
    this.arn = options.arn;
    this.visibilityTimeoutMs = options.visibilityTimeoutMs;
    this.retentionMs = options.retentionMs;
    this.maxMessageBytes = options.maxMessageBytes;
    this.redrive = options.redrive;
    this.onRedrive = options.onRedrive;
    this.now = options.now ?? Date.now;
  }

  /** Adds a message (the caller has validated it) and wakes any long poll. */
  send(input: SendInput): QueueMessage {
    const now = this.now();
    const attributes = input.messageAttributes ?? {};
    const message: QueueMessage = {
      messageId: randomUUID(),
      body: input.body,
      md5OfBody: md5Hex(Buffer.from(input.body, 'utf8')),
      messageAttributes: attributes,
      md5OfMessageAttributes: md5OfMessageAttributes(attributes),
      sentTimestamp: now,
      senderId: input.senderId ?? 'AIDALOCALSTACKSENDER',
      receiveCount: 0,
      firstReceiveTimestamp: undefined,
      visibleAt: now + (input.delaySeconds ?? 0) * 1000,
      receiptHandle: undefined,
    };
    this.messages.push(message);
    this.wake();
    return message;
  }

  /**
   * Receives up to `max` visible messages, each now invisible for `visibilityTimeoutMs` (the
   * queue's by default). With `waitMs`, waits that long for a first message (long polling);
   * `signal` ends the wait early with whatever there is (nothing).
   */
  async receive(options: {
    max: number;
    waitMs: number;
    visibilityTimeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueueMessage[]> {
    const deadline = this.now() + options.waitMs;
    for (;;) {
      const received = this.take(options.max, options.visibilityTimeoutMs);
      if (received.length > 0 || options.signal?.aborted) return received;
      const remaining = deadline - this.now();
      if (remaining <= 0) return received;
      await this.waitForChange(Math.min(remaining, this.untilNextVisible()), options.signal);
    }
  }

  /** Deletes the message whose latest receipt handle this is; false when there is none. */
  delete(receiptHandle: string): boolean {
    const index = this.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (index === -1) return false;
    this.messages.splice(index, 1);
    return true;
  }

  /** Makes a received message visible again at once (`ChangeMessageVisibility` to 0). */
  release(receiptHandle: string): boolean {
    const message = this.messages.find((m) => m.receiptHandle === receiptHandle);
    if (!message) return false;
    message.visibleAt = this.now();
    this.wake();
    return true;
  }

  /** `ApproximateNumberOfMessages`, `…NotVisible` (in flight) and `…Delayed`. */
  counts(): { visible: number; inFlight: number; delayed: number } {
    const now = this.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of this.messages) {
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Wakes every long poll of this queue (a message arrived, or the stack is stopping). */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Receives the moved message on the dead-letter queue (called by the source queue). */
  private adoptFromRedrive(message: QueueMessage, source: LocalQueue): void {
    message.receiveCount = 0;
    message.firstReceiveTimestamp = undefined;
    message.receiptHandle = undefined;
    message.visibleAt = this.now();
    message.deadLetterQueueSourceArn = source.arn;
    this.messages.push(message);
    this.wake();
  }

  private take(max: number, visibilityTimeoutMs = this.visibilityTimeoutMs): QueueMessage[] {
    const now = this.now();
    const taken: QueueMessage[] = [];
    for (let i = 0; i < this.messages.length && taken.length < max; ) {
      const message = this.messages[i] as QueueMessage;
      // A dead-letter queue keeps a message's original SentTimestamp, and so its age.
      if (now - message.sentTimestamp > this.retentionMs) {
        this.messages.splice(i, 1);
        continue;
      }
      if (message.visibleAt > now) {
        i++;
        continue;
      }
      if (this.redrive && message.receiveCount >= this.redrive.maxReceiveCount) {
        this.messages.splice(i, 1);
        this.redrive.deadLetterQueue.adoptFromRedrive(message, this);
        this.onRedrive?.(message, this);
        continue;
      }
      message.receiveCount++;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + visibilityTimeoutMs;
      message.receiptHandle = receiptHandleFor(message);
      taken.push(message);
      i++;
    }
    return taken;
  }

  private untilNextVisible(): number {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const m of this.messages) if (m.visibleAt > now) next = Math.min(next, m.visibleAt - now);
    return next;
  }

  private waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** A fresh, opaque receipt handle: base64 of the message id and random bytes. */
function receiptHandleFor(message: QueueMessage): string {
  return Buffer.concat([Buffer.from(message.messageId), randomBytes(24)]).toString('base64');
}

function md5Hex(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

/**
 * SQS's `MD5OfMessageAttributes`: over the attributes sorted by name, each as its name, its data
 * type (each a 4-byte big-endian length and UTF-8 bytes), a transport byte (1 string, 2 binary)
 * and its value (length and bytes). Undefined without attributes.
 *
 * @example
 * md5OfMessageAttributes({ ErrorCode: { DataType: 'String', StringValue: 'ValidationError' } });
 */
export function md5OfMessageAttributes(
  attributes: Record<string, MessageAttribute>,
): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of names) {
    const attribute = attributes[name] as MessageAttribute;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(attribute.DataType, 'utf8'));
    if (attribute.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      lengthPrefixed(attribute.BinaryValue);
    } else {
      parts.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(attribute.StringValue ?? '', 'utf8'));
    }
  }
  return md5Hex(Buffer.concat(parts));
}

/**
 * The system attributes of a message, as SQS names them (`SentTimestamp`,
 * `ApproximateReceiveCount`, …), every value a string.
 *
 * @example
 * systemAttributes(message).ApproximateReceiveCount; // '1'
 */
export function systemAttributes(message: QueueMessage): Record<string, string> {
  return {
    ApproximateReceiveCount: String(message.receiveCount),
    SentTimestamp: String(message.sentTimestamp),
    SenderId: message.senderId,
    ApproximateFirstReceiveTimestamp: String(
      message.firstReceiveTimestamp ?? message.sentTimestamp,
    ),
    ...(message.deadLetterQueueSourceArn && {
      DeadLetterQueueSourceArn: message.deadLetterQueueSourceArn,
    }),
  };
}

/** The local queues by name and by URL path (`/{account}/{name}`), whatever the host. */
export class LocalQueues {
  private readonly byName = new Map<string, LocalQueue>();

  add(queue: LocalQueue): LocalQueue {
    this.byName.set(queue.name, queue);
    return queue;
  }

  named(name: string): LocalQueue | undefined {
    return this.byName.get(name);
  }

  /** The queue a URL names, by its path: clients may say `localhost` for `127.0.0.1`. */
  atUrl(url: string): LocalQueue | undefined {
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      return undefined;
    }
    return this.atPath(path);
  }

  /** The queue of a path `/{account}/{name}`. */
  atPath(path: string): LocalQueue | undefined {
    const match = /^\/(\d{12})\/([^/]+)\/?$/.exec(path);
    return match ? this.byName.get(match[2] as string) : undefined;
  }

  all(): LocalQueue[] {
    return [...this.byName.values()];
  }

  /** Wakes every long poll (the stack is stopping). */
  wakeAll(): void {
    for (const queue of this.byName.values()) queue.wake();
  }
}
