import { SETTINGS } from '../lambdas/shared/limits';
import { type PeerResults, peerFigures } from './figures';
import type { LocalBench } from './local-context';
import { startLocalBench } from './local-context';
import type { BenchMode } from './modes';
import { type Output, progress } from './output';
import {
  architectPeerDir,
  NonceFleet,
  PEER_METHOD,
  type PeerMethodRun,
  runArchitectPeer,
  timePeerMethod,
} from './peer';
import { measurePostCpu } from './post-cpu';

/** Handshakes in flight while growing the audience past the peer's size (not timed). */
const GROWTH_IN_FLIGHT = 50;
/** `SEND_SHARD_SIZE` for the unsharded runs: its maximum, above any audience measured here. */
const UNSHARDED = String(SETTINGS.sendShardSize.max);

/**
 * Section 7: the send function's CPU per post; our fan-out and connection rate by the peer
 * harness's method, at its audience size and at ten times it; then, in full mode, the
 * Architect harness itself, so its figure comes from the same run.
 *
 * @example
 * await runPeerSections(MODES.quick, { figures: [], details: {} });
 */
export async function runPeerSections(mode: BenchMode, output: Output): Promise<void> {
  progress(`send function CPU per post: ${mode.postCpuRounds} × ${mode.postCpuPosts} posts…`);
  const postCpu = await measurePostCpu(mode.postCpuPosts, mode.postCpuRounds);

  progress('starting the local stack in its own process for the peer comparison…');
  // One user holds the whole audience: the per-user cap is raised to it, not bypassed.
  const bench = await startLocalBench({
    maxConnectionsPerUser: Math.max(mode.peerConnections, mode.largeConnections),
  });
  const fleet = new NonceFleet();
  let ours: PeerResults['ours'];
  let large: PeerResults['large'];
  let oursUnsharded: PeerResults['oursUnsharded'];
  let largeUnsharded: PeerResults['largeUnsharded'];
  const { sendShardSize: shardSize, sendShardsInFlight: shardsInFlight } = bench.stack.info;
  try {
    const n = mode.peerConnections;
    progress(
      `the peer's method: ${n} connections of one user (${PEER_METHOD.connectInFlight} in flight), a warm-up and ${mode.peerRounds} rounds…`,
    );
    ours = await timePeerMethod(
      bench,
      fleet,
      'bench-peer',
      n,
      mode.peerRounds,
      PEER_METHOD.warmUpRounds,
    );
    oursUnsharded = await unsharded(bench, fleet, n, mode.peerRounds);
    progress(
      `growing the audience to ${mode.largeConnections} connections, then ${mode.peerRounds} rounds…`,
    );
    large = await timePeerMethod(
      bench,
      fleet,
      'bench-peer',
      mode.largeConnections,
      mode.peerRounds,
      1,
      GROWTH_IN_FLIGHT,
    );
    largeUnsharded = await unsharded(bench, fleet, mode.largeConnections, mode.peerRounds);
  } finally {
    for (const ws of fleet.sockets) ws.terminate();
    await bench.stop();
  }

  const dir = architectPeerDir();
  const architect: PeerResults['architect'] =
    mode.name !== 'full'
      ? { notRun: 'the Architect harness runs in full mode only' }
      : dir === undefined
        ? {
            notRun:
              'the Architect harness is not installed (npm ci in ../shared/peers/architect, or set ARCHITECT_PEER_DIR)',
          }
        : await runArchitectPeer(dir, mode.peerConnections, mode.peerRounds);
  const results: PeerResults = {
    ours,
    large,
    oursUnsharded,
    largeUnsharded,
    shardSize,
    shardsInFlight,
    architect,
    postCpu,
  };
  output.figures.push(...peerFigures(results, mode.name === 'full'));
  output.details.peer = results;
}

/**
 * The same audience by one invocation of send (`SEND_SHARD_SIZE` at its maximum), right after
 * the sharded rounds; then send is set back to the deployed shard size. The send function's
 * workers start again at each change: a second warm-up round absorbs their cold starts.
 */
async function unsharded(
  bench: LocalBench,
  fleet: NonceFleet,
  connections: number,
  rounds: number,
): Promise<PeerMethodRun> {
  progress(`the same ${connections} connections by one invocation (unsharded), ${rounds} rounds…`);
  const shardSize = String(bench.stack.info.sendShardSize);
  await bench.stack.setFunctionEnvironment('send', { SEND_SHARD_SIZE: UNSHARDED });
  try {
    return await timePeerMethod(bench, fleet, 'bench-peer', connections, rounds, 2);
  } finally {
    await bench.stack.setFunctionEnvironment('send', { SEND_SHARD_SIZE: shardSize });
  }
}
