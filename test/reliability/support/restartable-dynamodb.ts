import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';

/**
 * A DynamoDB API (dynalite) that can be stopped for real and started again on the same port,
 * its data kept on disk as a real table's would be: while it is stopped, every request is
 * refused (ECONNREFUSED).
 *
 * @example
 * const db = await startRestartableDynamoDb();
 * await db.stop();   // clients now get ECONNREFUSED
 * await db.start();  // same port, same rows
 */
export interface RestartableDynamoDb {
  endpoint: string;
  readonly running: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>;
}

export async function startRestartableDynamoDb(): Promise<RestartableDynamoDb> {
  const path = mkdtempSync(join(tmpdir(), 'tripsync-dynalite-'));
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    if (server) return;
    const next = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => next.listen(port, '127.0.0.1', resolve));
    port = (next.address() as AddressInfo).port;
    server = next;
  };
  const stop = async () => {
    const current = server;
    if (!current) return;
    server = undefined;
    // The handlers' SDK clients keep connections alive; drop them, as a crashed server would.
    current.closeAllConnections();
    // dynalite's close() also closes its LevelDB, so the next start can open the same files.
    await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get running() {
      return server !== undefined;
    },
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(path, { recursive: true, force: true });
    },
  };
}
