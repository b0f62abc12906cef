import { connectionRates, overallRate } from './capacity';
import type { OpenResult } from './clients';
import {
  fanOutMessage,
  type RawBaseline,
  timeRawBroadcast,
  timeSends,
  timeSequentialLoop,
  timeSharedClient,
} from './fan-out';
import {
  type CapacityResults,
  capacityFigures,
  type FanOutResults,
  fanOutFigures,
  latencyFigures,
  requestFigures,
  resumeFigures,
} from './figures';
import { measureLatency } from './latency';
import { type LocalBench, startLocalBench } from './local-context';
import { type BenchMode, MODES } from './modes';
import { type Output, progress } from './output';
import { countRequests } from './requests';
import { timeReplay } from './resume';
import type { StackMemory } from './stack-protocol';
import { summarize } from './stats';
import { eventually } from './wait';

/** Handshakes in flight when opening many connections from the one client process. */
const IN_FLIGHT = 50;
/** Connections of each user the capacity section adds. */
const CAPACITY_CONNECTIONS_PER_USER = 100;
/** Connections the warm-up opens for its one user. */
const WARM_UP_CONNECTIONS = 10;

/** The most connections the run holds for one user: the stack's cap is raised to it. */
function connectionsPerUser(mode: BenchMode): number {
  return Math.max(
    mode.fanOutConnections,
    mode.sequentialConnects,
    mode.requestCountSample,
    CAPACITY_CONNECTIONS_PER_USER,
    WARM_UP_CONNECTIONS,
  );
}

/**
 * Sections 3 to 6 against the local stack in its own process, driven from this one: fan-out
 * (with its baselines), send latency, DynamoDB requests per operation, then capacity.
 *
 * @example
 * await runStackSections(MODES.quick, { figures: [], details: {} });
 */
export async function runStackSections(mode: BenchMode, output: Output): Promise<void> {
  progress('starting the local stack in its own process…');
  const bench = await startLocalBench({ maxConnectionsPerUser: connectionsPerUser(mode) });
  try {
    const idle = await warmUp(bench);
    const fanOut = await runFanOut(bench, mode, output);

    progress(`send latency: ${mode.latencySamples} sends…`);
    const latency = await measureLatency(bench, mode.latencySamples, mode.latencyWarmUp);
    output.figures.push(...latencyFigures(latency));
    output.details.latency = latency;
    // Nothing may still be running when the requests are counted.
    await closeAndWait(bench, 1);

    progress('DynamoDB requests per operation…');
    const counts = await countRequests(bench, mode.requestCountSample);
    output.figures.push(...requestFigures(counts));
    output.details.dynamodbRequests = counts;

    progress(
      `resume: replay of ${mode.replayMessages} missed messages, ${mode.replayRounds} rounds…`,
    );
    const replay = await timeReplay(bench, mode.replayMessages, mode.replayRounds);
    output.figures.push(...resumeFigures(replay));
    output.details.resume = replay;

    await runCapacity(bench, mode, output, { idle, ...fanOut });
    progress(`closing ${bench.fleet.size} connections…`);
    await closeAndWait(bench, bench.fleet.size);
  } finally {
    await bench.stop();
  }
}

/** Every handler cold-starts and builds its clients; returns the idle stack's memory. */
async function warmUp(bench: LocalBench): Promise<StackMemory> {
  await bench.connectUser('bench-warmup', WARM_UP_CONNECTIONS, WARM_UP_CONNECTIONS);
  for (let i = 0; i < 3; i++) {
    await bench.invokeSend({ userId: 'bench-warmup', message: fanOutMessage(i) });
  }
  await closeAndWait(bench, WARM_UP_CONNECTIONS);
  return bench.stack.memory();
}

/** What the fan-out section leaves for the capacity section. */
interface Opened {
  /** Batches opened `IN_FLIGHT` at a time, for the connection rate. */
  opens: OpenResult[];
  sequentialOpen: OpenResult;
  cpuPerConnectMs: number;
  raw: RawBaseline;
}

async function runFanOut(bench: LocalBench, mode: BenchMode, output: Output): Promise<Opened> {
  const n = mode.fanOutConnections;
  progress(`raw ws baseline: ${n} connections, ${mode.fanOutRounds} broadcasts…`);
  const raw = await timeRawBroadcast(bench, n, mode.fanOutRounds);

  progress(`opening ${n} connections of one user, ${IN_FLIGHT} in flight…`);
  const cpuBefore = await bench.stack.cpu();
  const opens = [await bench.connectUser('bench-fan', n, IN_FLIGHT)];
  const cpuPerConnectMs = ((await bench.stack.cpu()) - cpuBefore) / 1000 / n;
  progress(`opening ${mode.sequentialConnects} connections one at a time…`);
  const sequentialOpen = await bench.connectUser('bench-sequential', mode.sequentialConnects, 1);

  progress(`fan-out to 1 user with ${n} connections, ${mode.fanOutRounds} rounds…`);
  const toOneUser = (round: number) => ({ userId: 'bench-fan', message: fanOutMessage(round) });
  const oneUser = await timeSends(bench, toOneUser, n, mode.fanOutRounds);
  // The same send with `persist: false`: what logging (the default) adds, in the same run.
  const oneUserUnlogged = await timeSends(
    bench,
    (round) => ({ ...toOneUser(round), persist: false }),
    n,
    mode.fanOutRounds,
  );
  const ids = await bench.connectionIdsOf('bench-fan');
  const client = bench.managementClient();
  progress(`baselines: sequential loop and shared SDK client, ${mode.baselineRounds} rounds…`);
  const sequential = await timeSequentialLoop(bench, client, ids, mode.baselineRounds);
  const sharedClient = await timeSharedClient(bench, client, ids, mode.baselineRounds + 2);

  progress(`opening ${n} connections of ${n} users, ${IN_FLIGHT} in flight…`);
  const users = Array.from({ length: n }, (_, i) => `bench-user-${i}`);
  opens.push(await bench.connectUsers(users, IN_FLIGHT));
  progress(`fan-out to ${n} users, ${mode.fanOutRounds} rounds…`);
  const toUsers = (round: number) => ({ userIds: users, message: fanOutMessage(round) });
  const manyUsers = await timeSends(bench, toUsers, n, mode.fanOutRounds);
  const manyUsersUnlogged = await timeSends(
    bench,
    (round) => ({ ...toUsers(round), persist: false }),
    n,
    mode.fanOutRounds,
  );

  const fanOut: FanOutResults = {
    connections: n,
    concurrency: bench.stack.info.sendConcurrency,
    oneUser,
    oneUserUnlogged,
    manyUsers,
    manyUsersUnlogged,
    sequential,
    sharedClient,
    raw,
  };
  output.figures.push(...fanOutFigures(fanOut, mode.name === 'full'));
  const { open: _rawOpen, ...rawDetails } = raw;
  output.details.fanOut = { ...fanOut, raw: rawDetails };
  return { opens, sequentialOpen, cpuPerConnectMs, raw };
}

async function runCapacity(
  bench: LocalBench,
  mode: BenchMode,
  output: Output,
  { idle, opens, sequentialOpen, cpuPerConnectMs, raw }: Opened & { idle: StackMemory },
): Promise<void> {
  const more = Math.max(0, mode.capacityConnections - (await bench.stack.stats()).connections);
  const before = await bench.stack.memory();
  progress(`capacity: opening ${more} more connections (${mode.capacityConnections} in all)…`);
  const perUser = CAPACITY_CONNECTIONS_PER_USER;
  for (let i = 0; i * perUser < more; i++) {
    const count = Math.min(perUser, more - i * perUser);
    opens.push(await bench.connectUser(`bench-capacity-${i}`, count, IN_FLIGHT));
  }
  const held = (await bench.stack.stats()).connections;
  const after = await bench.stack.memory();
  const capacity: CapacityResults = {
    rate: connectionRates(opens),
    rawRate: connectionRates([raw.open]),
    cpuPerConnectMs,
    sequentialRate: overallRate(sequentialOpen),
    sequentialHandshake: summarize(sequentialOpen.handshakeMs),
    held,
    idleRss: idle.rss,
    idleHeapUsed: idle.heapUsed,
    heldRss: after.rss,
    heldHeapUsed: after.heapUsed,
    added: more,
    addedRss: after.rss - before.rss,
    addedHeap: after.heapUsed + after.external - before.heapUsed - before.external,
    rawRssPerConnection: raw.rssPerConnection,
    rawHeapPerConnection: raw.heapPerConnection,
    target: MODES.full.capacityConnections,
  };
  output.figures.push(...capacityFigures(capacity, mode.name === 'full'));
  output.details.capacity = capacity;
}

/** Closes the last `count` sockets and waits until the gateway has run every `$disconnect`. */
async function closeAndWait(bench: LocalBench, count: number): Promise<void> {
  await bench.stack.reset();
  await bench.fleet.close(count);
  await eventually(
    async () => ((await bench.stack.stats()).invocations.disconnect ?? 0) >= count,
    `${count} $disconnect invocations`,
    120_000,
  );
}
