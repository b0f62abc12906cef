/** How much the benchmark measures: `full` (`npm run bench`) or `quick` (`-- --quick`). */
export interface BenchMode {
  name: 'full' | 'quick';
  /** Fresh processes per bundle, interleaved. */
  coldStartRuns: number;
  /** One discarded round of cold starts first (it fills the file cache). */
  coldStartWarmUp: boolean;
  /** Invocations timed for send latency (after `latencyWarmUp` untimed ones). */
  latencySamples: number;
  latencyWarmUp: number;
  /** Connections of the one-user fan-out, and users with one connection each. */
  fanOutConnections: number;
  /** Timed fan-out rounds (after two untimed warm-up rounds). */
  fanOutRounds: number;
  /** Rounds of the slow baselines (sequential loop, one shared SDK client). */
  baselineRounds: number;
  /** Connections held for the capacity figure. */
  capacityConnections: number;
  /** Connections opened one at a time, for the sequential connection rate. */
  sequentialConnects: number;
  /** Connections and users in the DynamoDB request counts. */
  requestCountSample: number;
  /** The peer comparison's audience (one user), as the Architect harness's `--n`. */
  peerConnections: number;
  /** The larger audience the same user's fan-out is measured at. */
  largeConnections: number;
  /** Timed rounds of the peer comparison (after one warm-up), as the harness's `--rounds`. */
  peerRounds: number;
  /** Posts per round and rounds per design of the CPU-per-post figure. */
  postCpuPosts: number;
  postCpuRounds: number;
  /** Missed messages one resume replays (a page), and timed resumes (after one untimed). */
  replayMessages: number;
  replayRounds: number;
}

/** The two modes. The targets are judged in full mode only (they are stated for 1,000 connections). */
export const MODES: Record<BenchMode['name'], BenchMode> = {
  full: {
    name: 'full',
    coldStartRuns: 25,
    coldStartWarmUp: true,
    latencySamples: 300,
    latencyWarmUp: 30,
    fanOutConnections: 1000,
    fanOutRounds: 15,
    baselineRounds: 3,
    capacityConnections: 5000,
    sequentialConnects: 100,
    requestCountSample: 20,
    peerConnections: 1000,
    largeConnections: 10_000,
    peerRounds: 5,
    postCpuPosts: 3000,
    postCpuRounds: 7,
    replayMessages: 1000,
    replayRounds: 10,
  },
  quick: {
    name: 'quick',
    coldStartRuns: 1,
    // Quick mode checks that every figure is measured, not how fast: no warm-up round.
    coldStartWarmUp: false,
    latencySamples: 10,
    latencyWarmUp: 5,
    fanOutConnections: 50,
    fanOutRounds: 3,
    baselineRounds: 1,
    capacityConnections: 150,
    sequentialConnects: 10,
    requestCountSample: 5,
    peerConnections: 50,
    largeConnections: 100,
    peerRounds: 3,
    postCpuPosts: 100,
    postCpuRounds: 3,
    replayMessages: 50,
    replayRounds: 3,
  },
};
