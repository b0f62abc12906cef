import {
  BASELINES,
  type BaselineName,
  type BundleInfo,
  type Bundles,
  benchedHandler,
  HANDLER_NAMES,
  type HandlerName,
} from './bundles';
import type { ColdStartResult } from './cold-start';
import type { FanOutRun, RawBaseline } from './fan-out';
import type { LatencyResult } from './latency';
import { type ArchitectResult, PEER_METHOD, type PeerMethodRun } from './peer';
import type { PostCpuResult } from './post-cpu';
import type { Figure } from './report';
import type { RequestCount, RequestCounts } from './requests';
import type { ReplayResult } from './resume';
import { ratio, type Summary } from './stats';

const KIB = 1024;

const MIB = 1024 * 1024;
const kib = (bytes: number) => Math.round((bytes / KIB) * 10) / 10;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Judged only when the run measured what the target is stated for. */
const judged = (applies: boolean, met: boolean) => (applies ? met : null);

/**
 * Section 1: each handler's bundle size against the bare bundle of the SDK clients it uses,
 * and whether any handler carries a client it does not use.
 *
 * @example
 * figures.push(...bundleFigures(bundles));
 */
export function bundleFigures(bundles: Bundles): Figure[] {
  const figures: Figure[] = HANDLER_NAMES.map((name) => {
    const bundle = bundleOf(bundles, name);
    const { baseline, label, verifiesTokens: isAuthorizer } = benchedHandler(name);
    const base = bundles.baselines[baseline];
    const limitKib = isAuthorizer && bundle.sdkClients.length === 0 ? 100 : 400;
    return {
      id: `bundle.${name}.bytes`,
      section: '1. Bundles',
      label: `${label} bundle`,
      value: kib(bundle.bytes),
      unit: 'KB',
      // Against an empty module a ratio means nothing: only SDK baselines get one.
      ...(baseline !== 'empty' && {
        baseline: { label: BASELINES[baseline].label, value: kib(base.bytes) },
        ratio: ratio(bundle.bytes, base.bytes),
      }),
      target: {
        text:
          limitKib === 100
            ? '≤ 100 KB (no SDK client)'
            : isAuthorizer
              ? '≤ 400 KB (reads its secret with the SDK)'
              : '≤ 400 KB',
        met: bundle.bytes <= limitKib * KIB,
      },
      note: `largest: ${largest(bundle)}`,
    };
  });
  const unused = HANDLER_NAMES.flatMap((name) =>
    bundleOf(bundles, name)
      .sdkClients.filter((c) => !benchedHandler(name).clients.includes(c.name))
      .map((c) => `${name}: ${c.name}`),
  );
  figures.push({
    id: 'bundle.unusedClients',
    section: '1. Bundles',
    label: 'SDK clients carried but not used',
    value: unused.length,
    unit: '',
    target: { text: 'none', met: unused.length === 0 },
    note:
      unused.length > 0
        ? `unused: ${unused.join('; ')}`
        : `carried: ${HANDLER_NAMES.map(
            (name) =>
              `${name}: ${
                bundleOf(bundles, name)
                  .sdkClients.map((c) => `${c.name}${c.dynamicImport ? ' (dynamic import)' : ''}`)
                  .join(' + ') || 'none'
              }`,
          ).join('; ')}`,
  });
  return figures;
}

function bundleOf(bundles: Bundles, name: HandlerName): BundleInfo {
  const bundle = bundles.handlers[name];
  if (!bundle) throw new Error(`no bundle was built for ${name}`);
  return bundle;
}

function largest(bundle: BundleInfo): string {
  return bundle.packages
    .slice(0, 4)
    .map((p) => `${p.name} ${kib(p.bytes)} KB`)
    .join(', ');
}

/**
 * Section 2: time from a fresh process's start to each bundle imported with its clients built,
 * against the bare bundle of the same SDK clients (the target) and against the empty module.
 *
 * @example
 * figures.push(...coldStartFigures(coldStarts));
 */
export function coldStartFigures(
  results: Record<HandlerName, ColdStartResult> & Record<BaselineName, ColdStartResult>,
): Figure[] {
  const empty = results.empty.ready;
  const figures: Figure[] = [
    {
      id: 'coldStart.empty',
      section: '2. Cold start',
      label: 'empty module: process start to imported',
      value: round(empty.median),
      unit: 'ms',
      note: `p99 ${round(empty.p99)} ms; whole process (spawn to exit) ${round(results.empty.wall.median)} ms`,
    },
  ];
  for (const name of Object.keys(BASELINES) as BaselineName[]) {
    if (name === 'empty') continue;
    figures.push(vsEmpty(`coldStart.${name}.vsEmpty`, BASELINES[name].label, results[name], empty));
  }
  for (const name of HANDLER_NAMES) {
    const own = results[name];
    if (!own) throw new Error(`no cold starts measured for ${name}`);
    const { baseline, label } = benchedHandler(name);
    const base = results[baseline].ready;
    const r = ratio(own.ready.median, base.median);
    figures.push({
      id: `coldStart.${name}.vsBaseline`,
      section: '2. Cold start',
      label: `${label}: import + clients built`,
      value: round(own.ready.median),
      unit: 'ms',
      baseline: { label: BASELINES[baseline].label, value: round(base.median) },
      ratio: r,
      target: { text: '≤ 1.25× the bare SDK clients', met: r <= 1.25 },
      note: `p99 ${round(own.ready.p99)} ms; import() alone ${round(own.import.median)} ms${
        baseline === 'empty'
          ? `; no SDK client, so the baseline is the empty module; a bare Powertools Logger takes ${round(
              results.logger.ready.median,
            )} ms`
          : ''
      }`,
    });
    figures.push(
      vsEmpty(`coldStart.${name}.vsEmpty`, `${label} over the empty module`, own, empty),
    );
  }
  return figures;
}

function vsEmpty(id: string, label: string, own: ColdStartResult, empty: Summary): Figure {
  return {
    id,
    section: '2. Cold start',
    label: `${label} (+ms)`,
    value: round(own.ready.median - empty.median),
    unit: 'ms',
    baseline: { label: 'empty module', value: round(empty.median) },
    ratio: ratio(own.ready.median, empty.median),
  };
}

/**
 * Section 3: producer `Invoke` of `send` to the frame on the client socket.
 *
 * @example
 * figures.push(...latencyFigures(latency));
 */
export function latencyFigures(latency: LatencyResult): Figure[] {
  const row = (p: 'median' | 'p99', limit: number): Figure => ({
    id: `latency.send.${p}`,
    section: '3. Send latency',
    label: `Invoke → frame on the socket, ${p === 'median' ? 'p50' : 'p99'}`,
    value: round(latency.send[p], 2),
    unit: 'ms',
    baseline: { label: 'raw ws write, same process', value: round(latency.raw[p], 3) },
    ratio: ratio(latency.send[p], latency.raw[p]),
    target: { text: `≤ ${limit} ms`, met: latency.send[p] <= limit },
    note: `${latency.send.n} sends; Invoke response after ${round(latency.invoke[p], 2)} ms`,
  });
  return [row('median', 10), row('p99', 50)];
}

/** What the fan-out section measured. */
export interface FanOutResults {
  connections: number;
  concurrency: number;
  /** Logged sends (the default) and the same with `persist: false`. */
  oneUser: FanOutRun;
  oneUserUnlogged: FanOutRun;
  manyUsers: FanOutRun;
  manyUsersUnlogged: FanOutRun;
  sequential: FanOutRun;
  sharedClient: FanOutRun;
  raw: RawBaseline;
}

/**
 * Section 4: one `send` to one user with N connections and to N users with one each, against
 * the raw `ws` broadcast, a sequential loop and the straightforward shared-client design.
 *
 * @example
 * figures.push(...fanOutFigures(fanOut, true));
 */
export function fanOutFigures(f: FanOutResults, full: boolean): Figure[] {
  const n = f.connections.toLocaleString('en-US');
  const applies = full && f.connections >= 1000;
  const raw = { label: 'raw ws broadcast', value: round(f.raw.ms.median) };
  const speedup = f.sequential.ms.median / f.oneUser.ms.median;
  return [
    {
      id: 'fanOut.oneUser.median',
      section: '4. Fan-out',
      label: `send to 1 user with ${n} connections, p50`,
      value: round(f.oneUser.ms.median),
      unit: 'ms',
      baseline: raw,
      ratio: ratio(f.oneUser.ms.median, f.raw.ms.median),
      target: { text: '≤ 300 ms', met: judged(applies, f.oneUser.ms.median <= 300) },
      note: `${f.oneUser.ms.n} rounds; ${phases(f.oneUser)}`,
    },
    {
      id: 'fanOut.oneUser.p99',
      section: '4. Fan-out',
      label: `send to 1 user with ${n} connections, p99`,
      value: round(f.oneUser.ms.p99),
      unit: 'ms',
      baseline: { label: 'raw ws broadcast', value: round(f.raw.ms.p99) },
      ratio: ratio(f.oneUser.ms.p99, f.raw.ms.p99),
    },
    {
      id: 'fanOut.oneUser.vsSequential',
      section: '4. Fan-out',
      label: 'speed-up over a sequential loop',
      value: round(speedup, 2),
      unit: '×',
      baseline: {
        label: 'one SDK client, one post at a time',
        value: round(f.sequential.ms.median),
        unit: 'ms',
      },
      target: { text: '≥ 10×', met: judged(applies, speedup >= 10) },
    },
    {
      id: 'fanOut.oneUser.vsSharedClient',
      section: '4. Fan-out',
      label: `send to 1 user vs a shared SDK client`,
      value: round(f.oneUser.ms.median),
      unit: 'ms',
      baseline: {
        label: 'Promise.all, one SDK client, other process',
        value: round(f.sharedClient.ms.median),
      },
      ratio: ratio(f.oneUser.ms.median, f.sharedClient.ms.median),
      note: 'the straightforward design the issue quotes at about 355 ms on its machine',
    },
    {
      id: 'fanOut.oneUser.cpuPerPost',
      section: '4. Fan-out',
      label: 'stack process CPU per post (send + gateway)',
      value: round((f.oneUser.stackCpuMs.median / f.connections) * 1000, 0),
      unit: 'µs',
      baseline: {
        label: 'gateway alone (shared-client baseline)',
        value: round((f.sharedClient.stackCpuMs.median / f.connections) * 1000, 0),
      },
      ratio: ratio(f.oneUser.stackCpuMs.median, f.sharedClient.stackCpuMs.median),
      note: `raw ws broadcast: ${round((f.raw.stackCpuMs.median / f.connections) * 1000, 0)} µs per frame; the difference is the send function's own work (signing, HTTP) and its worker's messages`,
    },
    {
      id: 'fanOut.manyUsers.median',
      section: '4. Fan-out',
      label: `send to ${n} users with 1 connection each, p50`,
      value: round(f.manyUsers.ms.median),
      unit: 'ms',
      baseline: raw,
      ratio: ratio(f.manyUsers.ms.median, f.raw.ms.median),
      note: `p99 ${round(f.manyUsers.ms.p99)} ms over ${f.manyUsers.ms.n} rounds; ${phases(f.manyUsers)}`,
    },
    {
      id: 'fanOut.oneUser.logCost',
      section: '4. Fan-out',
      label: `logged send to 1 user with ${n} connections vs persist: false, p50`,
      value: round(f.oneUser.ms.median),
      unit: 'ms',
      baseline: { label: 'persist: false, same run', value: round(f.oneUserUnlogged.ms.median) },
      ratio: ratio(f.oneUser.ms.median, f.oneUserUnlogged.ms.median),
      note: `the log adds ${round(f.oneUser.ms.median - f.oneUserUnlogged.ms.median)} ms: one append (3 requests) before the posts`,
    },
    {
      id: 'fanOut.manyUsers.logCost',
      section: '4. Fan-out',
      label: `logged send to ${n} users vs persist: false, p50`,
      value: round(f.manyUsers.ms.median),
      unit: 'ms',
      baseline: { label: 'persist: false, same run', value: round(f.manyUsersUnlogged.ms.median) },
      ratio: ratio(f.manyUsers.ms.median, f.manyUsersUnlogged.ms.median),
      note: `the log adds ${round(f.manyUsers.ms.median - f.manyUsersUnlogged.ms.median)} ms: ${n} appends, SEND_CONCURRENCY at a time, before the posts`,
    },
    {
      id: 'fanOut.peakInFlight',
      section: '4. Fan-out',
      label: 'peak posts in flight (send function)',
      value: f.oneUser.peakSent ?? 0,
      unit: '',
      baseline: { label: 'SEND_CONCURRENCY', value: f.concurrency },
      ratio: ratio(f.oneUser.peakSent ?? 0, f.concurrency),
      note: `${f.manyUsers.peakSent} for ${n} users; the gateway held at most ${f.oneUser.peakReceived} at once`,
    },
  ];
}

function phases(run: FanOutRun): string {
  if (!run.phases) return '';
  return `DynamoDB ${round(run.phases.dynamodbMs.median)} ms (first request to last answer), posts ${round(run.phases.postsMs.median)} ms`;
}

/**
 * Section 5: DynamoDB requests per operation, from SDK middleware on the handlers' clients.
 *
 * @example
 * figures.push(...requestFigures(counts));
 */
export function requestFigures(c: RequestCounts): Figure[] {
  const row = (id: keyof RequestCounts, label: string, expected: number, note?: string): Figure => {
    const count: RequestCount = c[id];
    return {
      id: `dynamodb.${id}`,
      section: '5. DynamoDB requests',
      label,
      value: round(count.perOperation, 2),
      unit: 'req',
      target: { text: `${expected}`, met: count.perOperation === expected },
      note: `${describe(count.sdk)} for ${count.operations}${
        sameCounts(count.sdk, count.wire)
          ? '; dynalite saw the same'
          : `; dynalite saw ${describe(count.wire)}`
      }${note ? `; ${note}` : ''}`,
    };
  };
  return [
    row(
      'presence',
      'per user in a presence query',
      1,
      'one strongly consistent Query per user, expired rows filtered out of it',
    ),
    row(
      'connect',
      'per connect',
      2,
      "PutItem, then UpdateItem adding it to the user's counter (the cap); the live rows are counted only when the counter is over the cap",
    ),
    row(
      'disconnect',
      'per disconnect',
      2,
      "DeleteItem, then UpdateItem taking it off the user's counter",
    ),
    row(
      'lastDisconnect',
      "per disconnect of a user's last connection",
      3,
      'DeleteItem, UpdateItem, then DeleteItem of the counter item it left at zero',
    ),
    row('sendToUser', 'per send to a user (persist: false)', 1),
    row('sendToUsers', 'per user in a send to n users (persist: false)', 1),
    row(
      'sendToConnection',
      'per send to a connectionId',
      1,
      "the connection's protocol (v1 or v2 frame) from the byConnectionId index",
    ),
    row(
      'loggedMessage',
      'message log, per logged message per user',
      3,
      "read the head, put the message, move the head: 1 read + 2 writes, on top of the user's connection Query",
    ),
    row(
      'staleCleanupByUser',
      'per stale row, userId send',
      2,
      "DeleteItem, then UpdateItem taking it off the user's counter; one DeleteItem more when it was the user's last row",
    ),
    row(
      'staleCleanupByConnection',
      'per stale row, connectionId send',
      3,
      "the key is (userId, connectionId) and only the connection id is known: the Query on byConnectionId that finds the protocol also finds the owner, then DeleteItem and the counter's UpdateItem",
    ),
  ];
}

/**
 * Section 7: a resume replaying one page (1,000 missed messages) to a protocol v2 connection,
 * and the DynamoDB requests of one resume.
 *
 * @example
 * figures.push(...resumeFigures(replay));
 */
export function resumeFigures(replay: ReplayResult): Figure[] {
  const n = replay.messages.toLocaleString('en-US');
  const { requests } = replay;
  return [
    {
      id: 'resume.replay.median',
      section: '7. Resume',
      label: `replay of ${n} missed messages, resume to resumed, p50`,
      value: round(replay.ms.median),
      unit: 'ms',
      note: `p99 ${round(replay.ms.p99)} ms over ${replay.ms.n} resumes; ${round((replay.ms.median / replay.messages) * 1000, 0)} µs per message`,
    },
    {
      id: 'resume.requests',
      section: '7. Resume',
      label: 'DynamoDB requests per resume (one page)',
      value: requests.perOperation,
      unit: 'req',
      target: { text: '1 Query per page, plus the head', met: (requests.sdk.Query ?? 0) === 1 },
      note: `${describe(requests.sdk)}: the connection's row (its protocol and resume rate limit), the head, the page${
        sameCounts(requests.sdk, requests.wire)
          ? '; dynalite saw the same'
          : `; dynalite saw ${describe(requests.wire)}`
      }`,
    },
  ];
}

function describe(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? 'no request' : entries.map(([k, v]) => `${v} ${k}`).join(' + ');
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
}

/** What the capacity section measured. */
export interface CapacityResults {
  /** Connections per second over chunks of 100 handshakes, 50 in flight (authorizer + `$connect`). */
  rate: Summary;
  /** The same against the raw `ws` server (no authorizer, no `$connect`). */
  rawRate: Summary;
  /** One handshake at a time: overall rate and handshake times. */
  sequentialRate: number;
  sequentialHandshake: Summary;
  held: number;
  idleRss: number;
  heldRss: number;
  heldHeapUsed: number;
  idleHeapUsed: number;
  rawRssPerConnection: number;
  rawHeapPerConnection: number;
  target: number;
  /** Stack process CPU per connection opened (gateway, authorizer, `$connect`, dynalite). */
  cpuPerConnectMs: number;
  /** Connections opened for the capacity figure alone, and the memory they added. */
  added: number;
  addedRss: number;
  /** Heap and external (buffers) growth. */
  addedHeap: number;
}

/**
 * Section 6: connections per second from one client process, connections held and memory.
 *
 * @example
 * figures.push(...capacityFigures(capacity, true));
 */
export function capacityFigures(c: CapacityResults, full: boolean): Figure[] {
  // Heap and external memory after garbage collection, over the connections opened last with
  // nothing else running: exact, where RSS also keeps the fan-out rounds' freed pages.
  const added = Math.max(1, c.added);
  const perConnection = c.addedHeap / added;
  const applies = full && c.held >= c.target;
  return [
    {
      id: 'capacity.connectRate',
      section: '6. Capacity',
      label: 'connections opened per second, 50 in flight',
      value: round(c.rate.median, 0),
      unit: '/s',
      baseline: { label: 'raw ws server', value: round(c.rawRate.median, 0) },
      ratio: ratio(c.rate.median, c.rawRate.median),
      target: { text: '≥ 200/s', met: c.rate.median >= 200 },
      note: `slowest 100: ${round(c.rate.min, 0)}/s; stack CPU ${round(c.cpuPerConnectMs, 2)} ms per connection; one at a time: ${round(c.sequentialRate, 0)}/s (handshake p50 ${round(c.sequentialHandshake.median, 2)} ms, p99 ${round(c.sequentialHandshake.p99, 2)} ms)`,
    },
    {
      id: 'capacity.heldRss',
      section: '6. Capacity',
      label: `stack process RSS with ${c.held.toLocaleString('en-US')} connections`,
      value: round(c.heldRss / MIB, 0),
      unit: 'MB',
      baseline: { label: 'idle stack', value: round(c.idleRss / MIB, 0) },
      ratio: ratio(c.heldRss, c.idleRss),
      target: {
        text: `${c.target.toLocaleString('en-US')} connections in < 500 MB`,
        met: judged(applies, c.heldRss < 500 * MIB),
      },
      note: `heap ${round(c.idleHeapUsed / MIB, 0)} → ${round(c.heldHeapUsed / MIB, 0)} MB`,
    },
    {
      id: 'capacity.perConnection',
      section: '6. Capacity',
      label: 'memory per connection (heap + buffers)',
      value: round(perConnection / KIB, 1),
      unit: 'KB',
      baseline: { label: 'raw ws server', value: round(c.rawHeapPerConnection / KIB, 1) },
      ratio: ratio(perConnection, c.rawHeapPerConnection),
      note: `after garbage collection, over the last ${c.added.toLocaleString('en-US')} connections opened (RSS, which keeps freed pages, is the target's measure)`,
    },
  ];
}

/** What the peer and scale section measured. */
export interface PeerResults {
  /** Our stack, by the peer harness's method, at the peer's audience size. */
  ours: PeerMethodRun;
  /** The same, with the audience grown to `large.connections` (one user). */
  large: PeerMethodRun;
  /** Both audiences again, each by one invocation of send (no sharding), in the same run. */
  oursUnsharded: PeerMethodRun;
  largeUnsharded: PeerMethodRun;
  /** `SEND_SHARD_SIZE` and `SEND_SHARDS_IN_FLIGHT` of the sharded runs (the deployed defaults). */
  shardSize: number;
  shardsInFlight: number;
  /** The Architect harness's result line from this run, or why it did not run. */
  architect: ArchitectResult | { notRun: string };
  /** The send function's CPU per post, through the SDK client and replayed. */
  postCpu: PostCpuResult;
}

/**
 * Section 7: fan-out against the Architect sandbox measured by its own harness in the same
 * run, connection rate, fan-out to a ten times larger audience, and the send function's CPU
 * per post before and after replaying the client's request.
 *
 * @example
 * figures.push(...peerFigures(peer, true));
 */
export function peerFigures(p: PeerResults, full: boolean): Figure[] {
  const n = p.ours.connections.toLocaleString('en-US');
  const large = p.large.connections.toLocaleString('en-US');
  const peer = 'notRun' in p.architect ? undefined : p.architect;
  const peerConnectRate = peer ? (peer.connected * 1000) / peer.connect_ms : Number.NaN;
  const fanOutRatio = peer ? ratio(p.ours.fanOut.median, peer.fanout_ms_median) : Number.NaN;
  const connectRatio = ratio(p.ours.connectsPerSecond, peerConnectRate);
  const notRun = 'notRun' in p.architect ? p.architect.notRun : undefined;
  const applies = full && peer !== undefined && peer.n === p.ours.connections;
  const largeRatio = ratio(p.large.fanOut.median, p.ours.fanOut.median);
  const postRatio = ratio(p.postCpu.replayed.median, p.postCpu.client.median);
  return [
    {
      id: 'peer.fanOut.median',
      section: '7. Peer and scale',
      label: `send to 1 user with ${n} connections, p50, the peer's method`,
      value: round(p.ours.fanOut.median),
      unit: 'ms',
      ...(peer && {
        baseline: { label: 'Architect sandbox, its own harness', value: peer.fanout_ms_median },
        ratio: fanOutRatio,
      }),
      target: { text: '≤ 0.5× Architect (aim 0.35×)', met: judged(applies, fanOutRatio <= 0.5) },
      note: `${p.ours.fanOut.n} rounds after a warm-up: ${p.ours.fanOutMs.map((ms) => round(ms)).join(', ')} ms; stack CPU ${round(p.ours.stackCpuMs.median)} ms per round${
        peer
          ? `; Architect's rounds ${peer.fanout_ms.join(', ')} ms, raw ws broadcast ${peer.raw_ws_ms_median} ms${peer.errors.length > 0 ? `; its errors: ${peer.errors.join('; ')}` : ''}`
          : `; ${notRun}`
      }`,
    },
    {
      id: 'peer.connectRate',
      section: '7. Peer and scale',
      label: `connections opened per second, ${PEER_METHOD.connectInFlight} in flight`,
      value: round(p.ours.connectsPerSecond, 0),
      unit: '/s',
      ...(peer && {
        baseline: { label: 'Architect sandbox', value: round(peerConnectRate, 1) },
        ratio: connectRatio,
      }),
      target: { text: '≥ 10× Architect', met: judged(applies, connectRatio >= 10) },
      note: `${n} connections of one user, each through the authorizer and $connect`,
    },
    {
      id: 'scale.fanOut.median',
      section: '7. Peer and scale',
      label: `send to 1 user with ${large} connections, p50`,
      value: round(p.large.fanOut.median),
      unit: 'ms',
      baseline: { label: `${n} connections`, value: round(p.ours.fanOut.median) },
      ratio: largeRatio,
      target: {
        text: '≤ 8× the 1,000 figure',
        met: judged(full && p.large.connections >= 10_000, largeRatio <= 8),
      },
      note: `${p.large.fanOut.n} rounds: ${p.large.fanOutMs.map((ms) => round(ms)).join(', ')} ms; stack CPU ${round(p.large.stackCpuMs.median)} ms per round; opened at ${round(p.large.connectsPerSecond, 0)}/s`,
    },
    ...(['ours', 'large'] as const).map((which): Figure => {
      const [run, one] = which === 'ours' ? [p.ours, p.oursUnsharded] : [p.large, p.largeUnsharded];
      const count = run.connections.toLocaleString('en-US');
      const shards = Math.ceil(run.connections / p.shardSize);
      return {
        id: `scale.sharded.${which === 'ours' ? 'peer' : 'large'}`,
        section: '7. Peer and scale',
        label: `send to 1 user with ${count} connections, sharded vs one invocation, p50`,
        value: round(run.fanOut.median),
        unit: 'ms',
        baseline: {
          label: 'one invocation (unsharded), same run',
          value: round(one.fanOut.median),
        },
        ratio: ratio(run.fanOut.median, one.fanOut.median),
        note: `${
          shards > 1
            ? `${shards} shards of at most ${p.shardSize.toLocaleString('en-US')} (SEND_SHARD_SIZE), ${shards - 1} invoked, ${p.shardsInFlight} in flight`
            : `not sharded: at most SEND_SHARD_SIZE (${p.shardSize.toLocaleString('en-US')}) connections`
        }; stack CPU ${round(run.stackCpuMs.median)} vs ${round(one.stackCpuMs.median)} ms per round; unsharded rounds ${one.fanOutMs.map((ms) => round(ms)).join(', ')} ms`,
      };
    }),
    {
      id: 'send.cpuPerPost',
      section: '7. Peer and scale',
      label: 'send function CPU per post, replaying the client’s request',
      value: round(p.postCpu.replayed.median, 0),
      unit: 'µs',
      baseline: {
        label: 'every post through the SDK client',
        value: round(p.postCpu.client.median, 0),
      },
      ratio: postRatio,
      note: `median of ${p.postCpu.replayed.n} rounds of ${p.postCpu.postsPerRound.toLocaleString('en-US')} posts each, 50 in flight, to a plain HTTP server in another process (p90 ${round(p.postCpu.replayed.p90, 0)} / ${round(p.postCpu.client.p90, 0)} µs); the same bytes on the wire (test/integration/post-template.test.ts)`,
    },
  ];
}
