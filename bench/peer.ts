import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { LocalBench } from './local-context';
import { progress } from './output';
import { type Summary, summarize } from './stats';

/**
 * The peer harness's method, reproduced against our stack: the same `ws` clients (each parses
 * every frame and counts the current round's nonce), the same message (`{type, round, nonce,
 * body}` with 128 bytes of filler), 16 handshakes in flight, the round timed from just before
 * the producer's request to the last socket's receipt.
 */
export const PEER_METHOD = {
  fillerBytes: 128,
  connectInFlight: 16,
  roundTimeoutMs: 120_000,
  /** Untimed rounds before the timed ones, for both stacks (the harness's `--warmup`). */
  warmUpRounds: 1,
};

/** Our fan-out and connection rate, measured as the peer harness measures its own. */
export interface PeerMethodRun {
  connections: number;
  /** Connections per second while opening them, `connectInFlight` at a time. */
  connectsPerSecond: number;
  /** Each timed round, after the warm-up, in ms. */
  fanOutMs: number[];
  fanOut: Summary;
  /** Stack process CPU (all threads: gateway, functions, dynalite) per timed round, in ms. */
  stackCpuMs: Summary;
}

/** `ws` clients that count a round's nonce, as the peer harness's `Clients` class does. */
export class NonceFleet {
  readonly sockets: WebSocket[] = [];
  private expected:
    | { nonce: string; want: number; got: number; settle(at: number): void }
    | undefined;

  /** Opens `count` sockets to `url`, `inFlight` at a time; returns connections per second. */
  async open(url: string, count: number, inFlight: number): Promise<number> {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        this.sockets.push(await this.openOne(url));
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
    return (count * 1000) / (performance.now() - started);
  }

  /**
   * A round's message, and a promise of the time (`performance.now()`) the last socket got it.
   */
  arm(round: number): { message: Record<string, unknown>; received: Promise<number> } {
    const nonce = randomUUID();
    const message = { type: 'bench', round, nonce, body: 'x'.repeat(PEER_METHOD.fillerBytes) };
    const received = new Promise<number>((resolveAt, reject) => {
      const timer = setTimeout(() => {
        const got = this.expected?.got ?? 0;
        this.expected = undefined;
        reject(new Error(`round ${round}: ${got} of ${this.sockets.length} sockets received`));
      }, PEER_METHOD.roundTimeoutMs);
      this.expected = {
        nonce,
        want: this.sockets.length,
        got: 0,
        settle: (at) => {
          clearTimeout(timer);
          resolveAt(at);
        },
      };
    });
    return { message, received };
  }

  /** Closes every socket and waits until each has closed. */
  async closeAll(): Promise<void> {
    const sockets = this.sockets.splice(0);
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((done) => {
            if (ws.readyState === WebSocket.CLOSED) return done();
            ws.once('close', () => done());
            ws.close(1000);
          }),
      ),
    );
  }

  private openOne(url: string): Promise<WebSocket> {
    return new Promise((resolveSocket, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('message', (data) => this.onMessage(data));
      ws.once('open', () => resolveSocket(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        reject(new Error(`handshake refused with HTTP ${res.statusCode}`));
      });
    });
  }

  private onMessage(data: unknown): void {
    const expected = this.expected;
    if (!expected) return;
    let message: { nonce?: unknown } | null;
    try {
      message = JSON.parse(String(data));
    } catch {
      return;
    }
    if (message?.nonce !== expected.nonce) return;
    if (++expected.got === expected.want) {
      this.expected = undefined;
      expected.settle(performance.now());
    }
  }
}

/**
 * Opens sockets of one user on our stack until `fleet` holds `connections` (`inFlight`
 * handshakes at a time), and times `rounds` sends to that user after `warmUp` untimed ones,
 * by the peer's method. Leaves the sockets open, so a larger audience can be measured by
 * opening more.
 *
 * @example
 * const fleet = new NonceFleet();
 * const run = await timePeerMethod(bench, fleet, 'peer-fan', 1000, 5, 1);
 */
export async function timePeerMethod(
  bench: LocalBench,
  fleet: NonceFleet,
  userId: string,
  connections: number,
  rounds: number,
  warmUp: number,
  inFlight = PEER_METHOD.connectInFlight,
): Promise<PeerMethodRun> {
  const url = await bench.urlFor(userId);
  const more = connections - fleet.sockets.length;
  const connectsPerSecond = await fleet.open(url, more, inFlight);
  const fanOutMs: number[] = [];
  const cpu: number[] = [];
  for (let round = -warmUp; round < rounds; round++) {
    const { message, received } = fleet.arm(round);
    const cpuBefore = await bench.stack.cpu();
    const started = performance.now();
    const result = (await bench.invokeSend({ userId, message })) as { delivered?: number };
    const last = await received;
    if (result.delivered !== connections) {
      throw new Error(`round ${round}: send delivered ${result.delivered} of ${connections}`);
    }
    if (round < 0) continue;
    fanOutMs.push(last - started);
    cpu.push(((await bench.stack.cpu()) - cpuBefore) / 1000);
  }
  return {
    connections,
    connectsPerSecond,
    fanOutMs,
    fanOut: summarize(fanOutMs),
    stackCpuMs: summarize(cpu),
  };
}

/** What the Architect harness printed as its result line (the fields this benchmark reads). */
export interface ArchitectResult {
  n: number;
  rounds: number;
  fanout_ms_median: number;
  fanout_ms: number[];
  connect_ms: number;
  connected: number;
  all_received: boolean;
  raw_ws_ms_median: number;
  errors: string[];
  versions: Record<string, string | null>;
}

/**
 * Where the Architect peer harness is: `ARCHITECT_PEER_DIR`, or `shared/peers/architect` beside
 * the repository (or beside its parent, for a worktree). Undefined when it is not installed.
 */
export function architectPeerDir(): string | undefined {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const candidates = [
    process.env.ARCHITECT_PEER_DIR,
    resolve(root, '../shared/peers/architect'),
    resolve(root, '../../shared/peers/architect'),
  ].filter((dir): dir is string => dir !== undefined && dir !== '');
  return candidates.find(
    (dir) => existsSync(resolve(dir, 'bench.mjs')) && existsSync(resolve(dir, 'node_modules/ws')),
  );
}

/**
 * Runs the Architect harness (`node bench.mjs --n N --rounds R --warmup 1`) on four free ports and returns
 * its result line. Its own progress goes to this process's stderr, prefixed.
 *
 * @example
 * const peer = await runArchitectPeer(dir, 1000, 5);
 * peer.fanout_ms_median;
 */
export async function runArchitectPeer(
  dir: string,
  n: number,
  rounds: number,
): Promise<ArchitectResult> {
  const port = await freePortRun(4);
  const args = [
    'bench.mjs',
    ...['--n', String(n), '--rounds', String(rounds), '--port', String(port)],
    ...['--warmup', String(PEER_METHOD.warmUpRounds)],
  ];
  progress(`Architect peer: node ${args.join(' ')} (in ${dir})`);
  return new Promise((resolveResult, reject) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') process.stderr.write(`  [architect] ${line}\n`);
      }
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 15 * 60 * 1000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const result = JSON.parse(last) as ArchitectResult;
        if (code !== 0) result.errors = [...result.errors, `exit code ${code}`];
        resolveResult(result);
      } catch {
        reject(new Error(`the Architect harness exited (${signal ?? code}) without a result line`));
      }
    });
  });
}

/** A port such that it and the next `count - 1` ports are free now. */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error(`no run of ${count} free ports found`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}
