import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASELINES, HANDLER_NAMES } from '../../bench/bundles';
import type { BenchResults, Figure } from '../../bench/report';
import { runCommand } from '../support/processes';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

// The benchmark is not a timed test: this checks that its quick mode runs and measures every
// figure, never how fast anything was (a shared CI machine may be slow).
let scratch: string;
let results: BenchResults;
let stdout: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tripsync-bench-'));
  const out = join(scratch, 'results.json');
  // In a process group of its own: past the timeout, the benchmark and its stack process are
  // killed, not only npm.
  const run = await runCommand('npm', ['run', '--silent', 'bench', '--', '--quick', '--out', out], {
    cwd: REPO_ROOT,
    timeoutMs: 170_000,
  });
  if (run.code !== 0) {
    throw new Error(`the benchmark failed (${run.signal ?? run.code}): ${run.stderr}`);
  }
  stdout = run.stdout;
  results = JSON.parse(readFileSync(out, 'utf8'));
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const byId = (id: string): Figure | undefined => results.figures.find((f) => f.id === id);

// Every function of lambdas/manifest.ts, and the JWKS-only build of the token verifier.
const HANDLERS = HANDLER_NAMES;
const EXPECTED = [
  ...HANDLERS.map((h) => `bundle.${h}.bytes`),
  'bundle.unusedClients',
  'bundle.client.gzip',
  'coldStart.empty',
  ...Object.keys(BASELINES)
    .filter((b) => b !== 'empty')
    .map((b) => `coldStart.${b}.vsEmpty`),
  ...HANDLERS.flatMap((h) => [`coldStart.${h}.vsBaseline`, `coldStart.${h}.vsEmpty`]),
  'latency.send.median',
  'latency.send.p99',
  'fanOut.oneUser.median',
  'fanOut.oneUser.p99',
  'fanOut.oneUser.vsSequential',
  'fanOut.oneUser.vsSharedClient',
  'fanOut.oneUser.cpuPerPost',
  'fanOut.manyUsers.median',
  'fanOut.oneUser.logCost',
  'fanOut.manyUsers.logCost',
  'fanOut.peakInFlight',
  'dynamodb.presence',
  'dynamodb.connect',
  'dynamodb.disconnect',
  'dynamodb.lastDisconnect',
  'dynamodb.sendToUser',
  'dynamodb.sendToUsers',
  'dynamodb.sendToConnection',
  'dynamodb.loggedMessage',
  'dynamodb.staleCleanupByUser',
  'dynamodb.staleCleanupByConnection',
  'capacity.connectRate',
  'capacity.heldRss',
  'capacity.perConnection',
  'peer.fanOut.median',
  'peer.connectRate',
  'scale.fanOut.median',
  'scale.sharded.peer',
  'scale.sharded.large',
  'send.cpuPerPost',
  'resume.replay.median',
  'resume.requests',
];

describe('npm run bench -- --quick', () => {
  it('completes every section and writes its results', () => {
    // Assess
    expect(results.errors).toEqual([]);
    expect(results.mode).toBe('quick');
    expect(results.durationMs).toBeGreaterThan(0);
    expect(stdout).toContain('Baseline (same run)');
  });

  it('measures every figure of the issue, each a finite number', () => {
    // Assess
    expect(results.figures.map((f) => f.id).sort()).toEqual([...EXPECTED].sort());
    for (const figure of results.figures) {
      expect(Number.isFinite(figure.value), figure.id).toBe(true);
      if (figure.baseline) expect(Number.isFinite(figure.baseline.value), figure.id).toBe(true);
      if (figure.target) expect([true, false, null], figure.id).toContain(figure.target.met);
    }
  });

  it('compares each figure with a baseline measured in the same run', () => {
    // Assess: the cold starts and the stack figures each carry their baseline.
    for (const id of EXPECTED.filter((i) =>
      /^(coldStart\.\w+\.|latency|fanOut|capacity)/.test(i),
    )) {
      expect(byId(id)?.baseline, id).toBeDefined();
    }
    expect(byId('coldStart.send.vsBaseline')?.ratio).toBeGreaterThan(0);
  });

  it('counts DynamoDB requests on the handlers’ own clients, the wire agreeing', () => {
    // Assess: counts are facts, not timings, so they hold on any machine.
    // The row, then adding it to the user's counter (the cap): whatever the user holds.
    expect(byId('dynamodb.connect')?.value).toBe(2);
    // A removed row is taken off the counter, which the user's last one deletes.
    expect(byId('dynamodb.disconnect')?.value).toBe(2);
    expect(byId('dynamodb.lastDisconnect')?.value).toBe(3);
    expect(byId('dynamodb.staleCleanupByUser')?.value).toBe(2);
    // The owner through the index first: only the connection id is known.
    expect(byId('dynamodb.staleCleanupByConnection')?.value).toBe(3);
    // One read of the byConnectionId index: the connection's protocol decides its frame.
    expect(byId('dynamodb.presence')?.value).toBe(1);
    expect(byId('dynamodb.sendToConnection')?.value).toBe(1);
    // A logged message: 1 read and 2 writes per user; a resume: 1 Query for its page.
    expect(byId('dynamodb.loggedMessage')?.value).toBe(3);
    expect(byId('resume.requests')?.value).toBe(3);
    const counts = results.details.dynamodbRequests as Record<
      string,
      { sdk: Record<string, number>; wire: Record<string, number> }
    >;
    for (const [operation, count] of Object.entries(counts)) {
      expect(count.wire, operation).toEqual(count.sdk);
    }
  });
});
