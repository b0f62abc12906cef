import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LoggedMessage, OrderedLog } from '../../../client/src/ordered-log';

const logged = (seq: number, epoch = 'e1'): LoggedMessage => ({ seq, epoch, message: { seq } });

/** Takes every message that is next in order. */
function drain(log: OrderedLog): LoggedMessage[] {
  const delivered: LoggedMessage[] = [];
  for (let next = log.next(); next; next = log.next()) delivered.push(next);
  return delivered;
}

/** Adds each message and takes whatever became deliverable, as the client does per frame. */
function feed(log: OrderedLog, messages: LoggedMessage[]): LoggedMessage[] {
  return messages.flatMap((message) => {
    log.add(message);
    return drain(log);
  });
}

describe('OrderedLog', () => {
  it('hands over each seq once, in order, whatever the order and repetition of arrival', () => {
    // Any arrival order of 1..n in which each seq comes at least once, some several times.
    const arrivals = fc
      .integer({ min: 1, max: 120 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.shuffledSubarray(
            Array.from({ length: n }, (_, i) => i + 1),
            { minLength: n, maxLength: n },
          ),
          fc.array(fc.integer({ min: 1, max: n }), { maxLength: 60 }),
          fc.array(fc.nat(), { maxLength: 60 }),
        ),
      )
      .map(([n, order, duplicates, positions]) => {
        const seqs = [...order];
        duplicates.forEach((seq, i) => {
          seqs.splice((positions[i] ?? 0) % (seqs.length + 1), 0, seq);
        });
        return { n, seqs };
      });

    fc.assert(
      fc.property(arrivals, ({ n, seqs }) => {
        const log = new OrderedLog();
        const delivered = feed(
          log,
          seqs.map((seq) => logged(seq)),
        );
        expect(delivered.map((m) => m.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(log.pending.size).toBe(0);
        expect(log.seq).toBe(n);
      }),
    );
  });

  it('holds a message that is ahead of a missing seq', () => {
    // Prepare
    const log = new OrderedLog('e1', 4);

    // Act
    const delivered = feed(log, [logged(6), logged(7), logged(4), logged(3)]);

    // Assess
    expect(delivered).toEqual([]);
    expect([...log.pending.keys()]).toEqual([6, 7]);
    expect(feed(log, [logged(5)]).map((m) => m.seq)).toEqual([5, 6, 7]);
  });

  it('adopts the first epoch it sees without calling it a restart', () => {
    const log = new OrderedLog();
    expect(log.add(logged(1, 'e1'))).toBeUndefined();
    expect(log.epoch).toBe('e1');
  });

  it('keeps the seq of a cursor without an epoch when it adopts one', () => {
    // Prepare: a cursor that knows its seq, not its epoch (the server's current one is meant).
    const log = new OrderedLog(null, 5);

    // Act
    const delivered = feed(log, [logged(6, 'e1')]);

    // Assess
    expect(delivered.map((m) => m.seq)).toEqual([6]);
    expect({ epoch: log.epoch, seq: log.seq }).toEqual({ epoch: 'e1', seq: 6 });
  });

  it('restarts at seq 0 when a message of another epoch arrives, so its seqs are not duplicates', () => {
    // Prepare: seq 1–5 of e1 delivered, 8 held.
    const log = new OrderedLog();
    feed(
      log,
      [1, 2, 3, 4, 5, 8].map((seq) => logged(seq)),
    );

    // Act
    const outcome = log.add(logged(1, 'e2'));

    // Assess
    expect(outcome).toBe('restarted');
    expect(log.next()?.seq).toBe(1);
    expect({ epoch: log.epoch, seq: log.seq }).toEqual({ epoch: 'e2', seq: 1 });
    expect(log.pending.size).toBe(0);
  });

  it('drops a message of an epoch it has left behind', () => {
    // Prepare
    const log = new OrderedLog();
    feed(log, [logged(1, 'e1'), logged(1, 'e2')]);

    // Act
    const outcome = log.add(logged(2, 'e1'));

    // Assess
    expect(outcome).toBe('stale');
    expect(log.next()).toBeUndefined();
    expect(log.epoch).toBe('e2');
  });

  it('can leave an epoch without retiring it', () => {
    const log = new OrderedLog('e1', 9);
    log.restart(null, false);
    expect(log.add(logged(1, 'e1'))).toBeUndefined();
    expect(log.next()?.seq).toBe(1);
  });

  it('skips history declared gone, then hands over what it held after it', () => {
    // Prepare: 13 and 14 held after 5.
    const log = new OrderedLog('e1', 5);
    feed(log, [logged(13), logged(14)]);

    // Act
    log.skipTo(12);

    // Assess
    expect(drain(log).map((m) => m.seq)).toEqual([13, 14]);
    expect(log.seq).toBe(14);
  });

  it('never moves the cursor back', () => {
    const log = new OrderedLog('e1', 14);
    log.skipTo(3);
    expect(log.seq).toBe(14);
  });
});
