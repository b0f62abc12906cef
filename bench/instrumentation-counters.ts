/**
 * The benchmark's request counters, in memory every function worker and the stack process's
 * main thread share: a worker adds with `Atomics`, the main thread reads whenever it reports.
 * No message per count, so counting does not load the fan-out it measures, and a count is
 * there the moment its request is sent.
 */

/** The DynamoDB operations counted by name (the lib-dynamodb commands resolve to these). */
const COUNTED_OPERATIONS = [
  'BatchGetItem',
  'BatchWriteItem',
  'DeleteItem',
  'GetItem',
  'PutItem',
  'Query',
  'Scan',
  'TransactGetItems',
  'TransactWriteItems',
  'UpdateItem',
] as const;

/** How the counts name requests of an operation missing from `COUNTED_OPERATIONS`. */
const UNLISTED_OPERATION = 'UnlistedOperation';

const UNLISTED_SLOT = COUNTED_OPERATIONS.length;
const SENT_PEAK_SLOT = UNLISTED_SLOT + 1;
const SLOTS = SENT_PEAK_SLOT + 1;

/**
 * DynamoDB requests by operation, and the peak of Management API posts in flight in any one
 * worker, in a SharedArrayBuffer.
 *
 * @example
 * const counters = new InstrumentationCounters(); // the stack process
 * startLocalStack({ functionPreloadData: counters.buffer, ... });
 * // in a worker: new InstrumentationCounters(workerData.preloadData).countRequest('Query');
 * counters.requests(); // { Query: 1 }
 */
export class InstrumentationCounters {
  private readonly slots: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * 4)) {
    if (buffer.byteLength !== SLOTS * 4) {
      throw new Error(`instrumentation counters need ${SLOTS * 4} bytes, got ${buffer.byteLength}`);
    }
    this.slots = new Int32Array(buffer);
  }

  /** One request of `operation` (e.g. `Query`). */
  countRequest(operation: string): void {
    const index = (COUNTED_OPERATIONS as readonly string[]).indexOf(operation);
    Atomics.add(this.slots, index === -1 ? UNLISTED_SLOT : index, 1);
  }

  /** A worker has `inFlight` posts in flight: the peak rises to it if it is higher. */
  raiseSentPeak(inFlight: number): void {
    let peak = Atomics.load(this.slots, SENT_PEAK_SLOT);
    while (inFlight > peak) {
      const seen = Atomics.compareExchange(this.slots, SENT_PEAK_SLOT, peak, inFlight);
      if (seen === peak) return;
      peak = seen;
    }
  }

  /** Requests by operation since the last reset; operations with none left out. */
  requests(): Record<string, number> {
    const counts: Record<string, number> = {};
    COUNTED_OPERATIONS.forEach((operation, index) => {
      const count = Atomics.load(this.slots, index);
      if (count > 0) counts[operation] = count;
    });
    const unlisted = Atomics.load(this.slots, UNLISTED_SLOT);
    if (unlisted > 0) counts[UNLISTED_OPERATION] = unlisted;
    return counts;
  }

  /** The highest number of posts one worker had in flight since the last reset. */
  sentPeak(): number {
    return Atomics.load(this.slots, SENT_PEAK_SLOT);
  }

  /** Every count and the peak back to 0. */
  reset(): void {
    for (let slot = 0; slot < SLOTS; slot++) Atomics.store(this.slots, slot, 0);
  }
}
