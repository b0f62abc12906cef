import { type PeerResults, peerFigures } from './figures';
import { startLocalBench } from './local-context';
import type { BenchMode } from './modes';
import { type Output, progress } from './output';
import {
  architectPeerDir,
  NonceFleet,
  PEER_METHOD,
  runArchitectPeer,
  timePeerMethod,
} from './peer';
import { measurePostCpu } from './post-cpu';

/** Handshakes in flight while growing the audience past the peer's size (not timed). */
const GROWTH_IN_FLIGHT = 50;

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
  try {
    const n = mode.peerConnections;
    progress(
      `the peer's method: ${n} connections of one user (${PEER_METHOD.connectInFlight} in flight), a warm-up and ${mode.peerRounds} rounds…`,
    );
    ours = await timePeerMethod(bench, fleet, 'bench-peer', n, mode.peerRounds, 1);
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
  const results: PeerResults = { ours, large, architect, postCpu };
  output.figures.push(...peerFigures(results, mode.name === 'full'));
  output.details.peer = results;
}
