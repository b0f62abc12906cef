/**
 * A logged message as the app receives it: once each, in `seq` order within its `epoch`.
 *
 * @example
 * const logged: LoggedMessage = { seq: 12, epoch: '01JD8X', message: { type: 'seat.taken' } };
 */
export interface LoggedMessage {
  seq: number;
  epoch: string;
  message: unknown;
}

/**
 * Where the client stands in the user's message log: the last `seq` handed to the app and the
 * `epoch` that seq belongs to. `{ epoch: null, seq: 0 }` before anything was received.
 *
 * @example
 * const { epoch, seq }: Cursor = client.cursor;
 */
export interface Cursor {
  epoch: string | null;
  seq: number;
}

/**
 * Turns logged messages arriving in any order, any number of times (live sends racing a replay,
 * a replay repeated after a reconnect), into each seq exactly once, in order. Holds a message
 * that is ahead of a missing seq until the seq arrives or the history before it is declared gone
 * (`skipTo`). Pure: no timers, no I/O.
 *
 * @example
 * const log = new OrderedLog();
 * log.add({ seq: 2, epoch: 'e1', message: 'b' }); // held: seq 1 is missing
 * log.add({ seq: 1, epoch: 'e1', message: 'a' });
 * log.next(); // { seq: 1, … }, then log.next() is seq 2, then undefined
 */
export class OrderedLog implements Cursor {
  /** Messages ahead of the cursor, by seq. */
  readonly pending = new Map<number, LoggedMessage>();
  /**
   * Epochs the log has left behind. A frame of one of them is stale (it was in flight when the
   * sequence restarted) and is dropped, rather than taken for yet another restart.
   */
  readonly retired = new Set<string>();

  constructor(
    public epoch: string | null = null,
    public seq = 0,
  ) {}

  /**
   * Takes one logged message. Returns `'stale'` for a message of a retired epoch (dropped),
   * `'restarted'` when the message starts an epoch other than the cursor's (the cursor restarts
   * at 0 in the new epoch: its seqs are not duplicates of the old ones), or undefined.
   *
   * @example
   * log.add({ seq: 1, epoch: 'e2', message: {} }); // 'restarted' if the log was in epoch 'e1'
   */
  add(logged: LoggedMessage): 'stale' | 'restarted' | undefined {
    let outcome: 'restarted' | undefined;
    if (logged.epoch !== this.epoch) {
      if (this.retired.has(logged.epoch)) return 'stale';
      if (this.epoch === null) {
        // The first epoch seen (a cursor without one counts in the server's current epoch).
        this.epoch = logged.epoch;
      } else {
        outcome = 'restarted';
        this.restart(logged.epoch);
      }
    }
    if (logged.seq > this.seq && !this.pending.has(logged.seq)) {
      this.pending.set(logged.seq, logged);
    }
    return outcome;
  }

  /**
   * The next message in order, moving the cursor past it; undefined while the next seq is missing.
   *
   * @example
   * for (let m = log.next(); m; m = log.next()) app(m);
   */
  next(): LoggedMessage | undefined {
    const logged = this.pending.get(this.seq + 1);
    if (logged) {
      this.pending.delete(logged.seq);
      this.seq = logged.seq;
    }
    return logged;
  }

  /**
   * Moves the cursor to a new epoch at seq 0, dropping what was held: the old sequence is over,
   * and its frames still in flight are stale unless `retire` is false.
   *
   * @example
   * log.restart('e2'); // { epoch: 'e2', seq: 0 }
   */
  restart(epoch: string | null, retire = true): void {
    if (retire && this.epoch !== null && this.epoch !== epoch) this.retired.add(this.epoch);
    this.epoch = epoch;
    this.seq = 0;
    this.pending.clear();
  }

  /**
   * Declares every seq up to `seq` gone (expired history): the cursor moves there if it is
   * behind, and what is held after it becomes deliverable.
   *
   * @example
   * log.skipTo(9); // seqs 1–9 expired; `next()` now returns seq 10 if it is held
   */
  skipTo(seq: number): void {
    if (seq > this.seq) {
      for (const held of this.pending.keys()) if (held <= seq) this.pending.delete(held);
      this.seq = seq;
    }
  }
}
