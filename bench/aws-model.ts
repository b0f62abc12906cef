import { AWS_LIMITS, defaultShardsInFlight, SETTINGS } from '../lambdas/shared/limits';

/**
 * Expected fan-out time of one `send` on AWS, from the CPU per post measured here, Lambda's
 * CPU-per-memory allocation, the shard settings and the account's `@connections` rate. The
 * derivation is written out in docs/performance-on-aws.md; `npm run docs:figures` renders its
 * table from the latest run with {@link awsFanOutTable}.
 */

/** What the model assumes besides the measured CPU per post (docs/performance-on-aws.md). */
export const AWS_MODEL = {
  /** DynamoDB round trips before the first post: the Query, then the log's read and 2 writes. */
  roundTripsBeforePosting: 4,
  /** One in-region DynamoDB round trip ("single-digit milliseconds"), in ms. */
  dynamoDbRoundTripMs: 5,
  /** What a warm synchronous `Invoke` adds to a shard (request, scheduling, reply), in ms. */
  invokeOverheadMs: 25,
  /** Memory at which Lambda allocates one full vCPU; the post loop uses one thread. */
  fullVcpuMemoryMiB: AWS_LIMITS.fullVcpuMemoryMiB,
  /** Requests per second the account may make to API Gateway in a region, posts included. */
  accountRequestsPerSecond: AWS_LIMITS.accountRequestsPerSecond,
  /** The longest a send may post: its default timeout less its and its shards' reply margins. */
  postingBudgetMs: 30_000 - 2 * 1000,
} as const;

/** One send's expected time, and what bounds it. */
export interface AwsFanOutEstimate {
  connections: number;
  memoryMiB: number;
  shards: number;
  /** Invocations posting at once: the send itself and its shard invocations in flight. */
  invocations: number;
  /** Posts per second one invocation makes, CPU-bound. */
  postsPerSecondEach: number;
  /** From the producer's Invoke to the last post answered, in ms. */
  ms: number;
  /** The invocations together would post faster than the account's rate: it decides. */
  rateBound: boolean;
  /** The posting would not fit the send's timeout: the rest count failed. */
  overTimeout: boolean;
}

/**
 * The model: `k = ceil(N / S)` even shards; `W = 1 + min(F, k − 1)` invocations take them in
 * turn; each posts at `r = v / c` per second (`v` = memory / 1,769 vCPU, at most 1; `c` = CPU per
 * post); the posting takes `ceil(k / W)` shard times, but no less than `N / R` at the account's
 * rate `R`; before it, the connection Query and the log append, and a warm Invoke per shard.
 *
 * @example
 * estimateAwsFanOut({ connections: 10_000, memoryMiB: 1769, cpuPerPostUs: 230, shardSize: 1000, shardsInFlight: 1 });
 */
export function estimateAwsFanOut(input: {
  connections: number;
  memoryMiB: number;
  cpuPerPostUs: number;
  shardSize: number;
  shardsInFlight: number;
}): AwsFanOutEstimate {
  const { connections: n, memoryMiB, cpuPerPostUs, shardSize, shardsInFlight } = input;
  const m = AWS_MODEL;
  const vcpu = Math.min(memoryMiB, m.fullVcpuMemoryMiB) / m.fullVcpuMemoryMiB;
  const perInvocation = (vcpu * 1e6) / cpuPerPostUs;
  const shards = Math.max(1, Math.ceil(n / shardSize));
  const invocations = 1 + Math.min(shardsInFlight, shards - 1);
  const shardMs = ((n / shards) * 1000) / perInvocation;
  const cpuBoundMs = Math.ceil(shards / invocations) * shardMs;
  const rateMs = (n * 1000) / m.accountRequestsPerSecond;
  const postingMs = Math.max(cpuBoundMs, rateMs);
  const before = m.roundTripsBeforePosting * m.dynamoDbRoundTripMs;
  return {
    connections: n,
    memoryMiB,
    shards,
    invocations,
    postsPerSecondEach: perInvocation,
    ms: before + (shards > 1 ? m.invokeOverheadMs : 0) + postingMs,
    rateBound: invocations * perInvocation > m.accountRequestsPerSecond && rateMs >= cpuBoundMs,
    overTimeout: postingMs > m.postingBudgetMs,
  };
}

/** The audiences and memory sizes of the table. */
export const AWS_TABLE = {
  connections: [1, 100, 1000, 10_000, 100_000],
  memoryMiB: [256, 512, 1024, 1769],
} as const;

/**
 * The table of docs/performance-on-aws.md, as Markdown, for the CPU per post measured by a run,
 * with the deployed shard settings (shards in flight as the construct derives them from the
 * memory, unless given): one row per audience, one column per memory size, and the same send in
 * one invocation (unsharded) at the default memory for comparison.
 *
 * @example
 * awsFanOutTable(230);
 */
export function awsFanOutTable(
  cpuPerPostUs: number,
  settings: { shardSize: number; shardsInFlight?: number } = {
    shardSize: SETTINGS.sendShardSize.default,
  },
): string {
  const memoryDefault = AWS_LIMITS.fullVcpuMemoryMiB;
  const header = [
    'Connections',
    'Shards',
    ...AWS_TABLE.memoryMiB.map(
      (m) => `${m.toLocaleString('en-US')} MB${m === memoryDefault ? ' (default)' : ''}`,
    ),
    `One invocation, ${memoryDefault.toLocaleString('en-US')} MB`,
  ];
  const rows = AWS_TABLE.connections.map((connections) => {
    const at = (memoryMiB: number, shardSize: number = settings.shardSize) =>
      estimateAwsFanOut({
        connections,
        memoryMiB,
        cpuPerPostUs,
        shardSize,
        shardsInFlight: settings.shardsInFlight ?? defaultShardsInFlight(memoryMiB),
      });
    const cells = AWS_TABLE.memoryMiB.map((memoryMiB) => describe(at(memoryMiB)));
    const unsharded = at(memoryDefault, SETTINGS.sendShardSize.max);
    return [
      connections.toLocaleString('en-US'),
      String(at(memoryDefault).shards),
      ...cells,
      describe(unsharded),
    ];
  });
  // Padded as the repository's formatter (Biome) pads Markdown tables, so the page it sits in
  // can be formatted without touching it.
  const widths = header.map((h, i) =>
    Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `0.25 s`, `12 s`, with `‡` when the account's rate decides and `†` past the timeout. */
function describe(estimate: AwsFanOutEstimate): string {
  const s = estimate.ms / 1000;
  const time = s < 10 ? `${s.toFixed(s < 1 ? 2 : 1)} s` : `${Math.round(s)} s`;
  return `${time}${estimate.rateBound ? ' ‡' : ''}${estimate.overTimeout ? ' †' : ''}`;
}
